//! [`StoreTx`] of the dual-write twin: the state and history go to the state database's
//! transaction; the tasks and timers a transition creates are kept aside ([`DualTx::out`]) to
//! be published to the queue, and nothing is ever claimed or fired from the state database.

use faultline_proto::{EpochMillis, ScheduleInfo};

use super::{task_topic, Outgoing, Work, TIMER_TOPIC};
use crate::error::Result;
use crate::faults::FaultCtx;
use crate::state::{NewTask, Output, RunState, TaskKind, TimerKind, Transition};
use crate::store::sqlite::tx::SqliteTx;
use crate::store::{DueTimer, StoreTx};

pub(crate) struct DualTx<'a> {
    inner: SqliteTx<'a>,
    pub out: Vec<Outgoing>,
    /// The first run this request wrote, and the activity types it touched.
    pub ctx: FaultCtx,
}

impl<'a> DualTx<'a> {
    pub fn new(inner: SqliteTx<'a>) -> Self {
        Self { inner, out: Vec::new(), ctx: FaultCtx::default() }
    }

    /// Notes the type of a reported activity (for fault matching), before the report applies.
    pub fn note_activity(&mut self, run_id: &str, seq: u64) -> Result<()> {
        if let Some(s) = self.inner.load_run(run_id)? {
            if let Some(a) = s.activities.get(&seq) {
                self.ctx.activity_types.push(a.activity_type.clone());
            }
        }
        Ok(())
    }

    fn task(&mut self, s: &RunState, task: &NewTask) {
        if task.kind == TaskKind::Activity {
            if let Some(a) = s.activities.get(&task.seq) {
                self.ctx.activity_types.push(a.activity_type.clone());
            }
        }
        self.out.push(Outgoing {
            topic: task_topic(task.kind, &task.task_queue),
            work: Work::Task {
                run_id: s.run_id.clone(),
                kind: task.kind,
                task_queue: task.task_queue.clone(),
                seq: task.seq,
                created_event_id: s.next_event_id.saturating_sub(1),
            },
            deliver_at: 0,
        });
    }

    fn timer(&mut self, owner: &str, kind: &TimerKind, at: EpochMillis, created_event_id: u64) {
        self.out.push(Outgoing {
            topic: TIMER_TOPIC.to_string(),
            work: Work::Timer { owner: owner.to_string(), kind: kind.clone(), fire_at_ms: at, created_event_id },
            deliver_at: at,
        });
    }
}

impl StoreTx for DualTx<'_> {
    fn load_run(&mut self, run_id: &str) -> Result<Option<RunState>> {
        self.inner.load_run(run_id)
    }
    fn current_run_id(&mut self, workflow_id: &str) -> Result<Option<String>> {
        self.inner.current_run_id(workflow_id)
    }
    fn set_current_run(&mut self, workflow_id: &str, run_id: &str) -> Result<()> {
        self.inner.set_current_run(workflow_id, run_id)
    }
    fn write_changes(&mut self, t: &Transition) -> Result<Option<u64>> {
        if !t.noop {
            if self.ctx.workflow_id.is_none() {
                self.ctx.workflow_id = Some(t.state.workflow_id.clone());
                self.ctx.workflow_type = Some(t.state.workflow_type.clone());
            }
            if let Output::ActivityTask(a) = &t.output {
                self.ctx.activity_types.push(a.activity_type.clone());
            }
            for task in &t.new_tasks {
                self.task(&t.state, task);
            }
            for (kind, at) in &t.timers {
                self.timer(&t.state.run_id, kind, *at, t.state.next_event_id.saturating_sub(1));
            }
        }
        if t.new_tasks.is_empty() && t.timers.is_empty() {
            return self.inner.write_changes(t);
        }
        let mut state_only = t.clone();
        state_only.new_tasks.clear();
        state_only.timers.clear();
        self.inner.write_changes(&state_only)
    }
    fn put_run(&mut self, s: &RunState) -> Result<()> {
        self.inner.put_run(s)
    }
    fn put_task(&mut self, run_id: &str, task: &NewTask) -> Result<()> {
        if let Some(s) = self.inner.load_run(run_id)? {
            self.task(&s, task);
        }
        Ok(())
    }
    fn claim_task(&mut self, _: TaskKind, _: &str) -> Result<Option<(String, u64)>> {
        Ok(None)
    }
    fn take_task(&mut self, _: TaskKind, _: &str, _: u64) -> Result<bool> {
        Ok(false)
    }
    fn history_json(&mut self, run_id: &str, upto: u64) -> Result<String> {
        self.inner.history_json(run_id, upto)
    }
    fn due_timers(&mut self, _: EpochMillis, _: usize) -> Result<Vec<DueTimer>> {
        Ok(Vec::new())
    }
    fn delete_timer(&mut self, owner: &str, kind: &TimerKind) -> Result<()> {
        self.inner.delete_timer(owner, kind)
    }
    fn put_timer(&mut self, owner: &str, kind: &TimerKind, fire_at: EpochMillis) -> Result<()> {
        self.timer(owner, kind, fire_at, 0);
        Ok(())
    }
    fn next_timer_at(&mut self) -> Result<Option<EpochMillis>> {
        Ok(None)
    }
    fn get_schedule(&mut self, id: &str) -> Result<Option<ScheduleInfo>> {
        self.inner.get_schedule(id)
    }
    fn put_schedule(&mut self, info: &ScheduleInfo) -> Result<()> {
        self.inner.put_schedule(info)
    }
    fn delete_schedule(&mut self, id: &str) -> Result<bool> {
        self.inner.delete_schedule(id)
    }
}
