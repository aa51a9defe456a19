//! The `faultline` binary: the dashboard and the CLI.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use faultline::dashboard::launch::Mode;
use faultline::scenario::report::Verdict;

/// Live demo and chaos-testing harness for durable workflow execution.
///
/// With no subcommand, opens the dashboard on the all-up scenario.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Record the session to FILE (e.g. talk.flrec) for `faultline replay`.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Clone, clap::Args)]
struct Common {
    /// Where pods run: Docker containers, local processes, or Docker when reachable.
    #[arg(long, global = true, value_enum, default_value_t = RuntimeChoice::Auto)]
    runtime: RuntimeChoice,
    /// The topology file.
    #[arg(long, global = true, default_value = "docker-compose.yml")]
    compose: PathBuf,
    /// The project: names the containers, network and volumes (`<project>-<pod>`), labels
    /// them, and is held by one controlling Faultline at a time. Another name runs a second
    /// topology beside the first (give it --port-offset too).
    #[arg(long, global = true, env = "FAULTLINE_PROJECT", default_value = faultline::runtime::DEFAULT_PROJECT)]
    project: String,
    /// Added to every host port of the compose file (e.g. 100: the engine on 127.0.0.1:7333).
    #[arg(long, global = true, env = "FAULTLINE_PORT_OFFSET", default_value_t = 0, value_name = "N")]
    port_offset: u16,
    /// Dashboard colours: `dark` or `light` (both high contrast, for projectors).
    /// (Default: dark; a replay uses the recorded one.)
    #[arg(long, global = true)]
    theme: Option<faultline::dashboard::ThemeName>,
    /// When the dashboard closes: leave the pods running, or take them down. Asks when not given.
    #[arg(long, global = true, value_enum)]
    on_exit: Option<OnExit>,
    /// Use the images and binaries as they are (e.g. images loaded with `faultline images
    /// --load`): no cargo build at start, nor of the benchmark's engine. `R` still rebuilds
    /// a pod from source.
    #[arg(long, global = true, env = faultline::runtime::images::NO_BUILD_ENV)]
    no_build: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnExit {
    Leave,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RuntimeChoice {
    Auto,
    Docker,
    Local,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Builds the binaries and the FROM scratch images (skips those already up to date);
    /// saves them to a tar file for other machines, or loads such a file.
    Images {
        /// Rebuild even when up to date.
        #[arg(long, conflicts_with = "load")]
        force: bool,
        /// Build (if needed), then write every image to FILE (a `docker save` tar), e.g. to
        /// hand out on a USB stick at a workshop.
        #[arg(long, value_name = "FILE", conflicts_with = "load")]
        save: Option<PathBuf>,
        /// Load the images from FILE (written by --save); then start with --no-build to use
        /// them as they are.
        #[arg(long, value_name = "FILE")]
        load: Option<PathBuf>,
    },
    /// Rebuilds one pod from source and redeploys it (the dashboard's `R`): builds only its
    /// binaries and images, recreates it at the version it runs, waits until it serves, and
    /// prints each stage with its time.
    Rebuild {
        /// The pod, e.g. payment.
        pod: String,
        /// Print the timings as one JSON line (for scripts/workshop-loop.sh).
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks the engine and SDK (chain, timer, retry), optionally killing the engine
    /// (--kill-engine K) to prove no workflow is lost and no activity runs twice.
    Bench(faultline::bench::BenchArgs),
    /// Opens the dashboard on an engine and pods that are already running.
    Attach {
        /// The engine's URL (default: the one of the runtime, http://127.0.0.1:7233).
        #[arg(long)]
        engine: Option<String>,
        /// Record the session to FILE (e.g. talk.flrec) for `faultline replay`.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
    },
    /// Plays a recorded session (--record) in the dashboard, with no engine and no Docker; or
    /// exports it to an asciicast (--to-cast) for asciinema.
    Replay {
        /// The recording, e.g. talk.flrec.
        recording: PathBuf,
        /// Play N times faster (0.5: half as fast). Keys: space pauses, . steps, +/- speed, q quits.
        #[arg(long, default_value_t = 1.0, value_name = "N")]
        speed: f64,
        /// Write an asciicast v2 file instead of playing (`asciinema play OUT.cast`).
        #[arg(long, value_name = "OUT.cast")]
        to_cast: Option<PathBuf>,
        /// Terminal size of the cast, WIDTHxHEIGHT.
        #[arg(long, default_value = "100x30", value_name = "WxH", requires = "to_cast")]
        size: String,
    },
    /// Removes every container, network (and with --volumes, volume) of the project.
    Down {
        #[arg(long)]
        volumes: bool,
    },
    /// Checks scenario files without running anything (default: every file in scenarios/).
    Validate {
        /// Scenario files or directories.
        paths: Vec<PathBuf>,
    },
    /// Runs a scenario: opens the dashboard on it, or with --headless prints progress lines
    /// and writes a report (exit code 1 when an expectation fails).
    Run {
        /// The scenario file, e.g. scenarios/bugged-pod.toml.
        scenario: PathBuf,
        /// No terminal UI: progress lines on stdout; manual steps advance on their own.
        #[arg(long)]
        headless: bool,
        /// Write the report to FILE.json or FILE.md.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Divide every wait, timer and backoff of the scenario by N.
        #[arg(long, default_value_t = 1.0, value_name = "N")]
        speed: f64,
        /// Use the pods already running instead of bringing the topology up.
        #[arg(long)]
        no_up: bool,
        /// Keep the engine's earlier workflows and the services' ledgers; by default each
        /// run starts on a fresh engine database.
        #[arg(long)]
        keep_history: bool,
        /// With --headless: run N times in a row, stop at the first run that does not pass,
        /// and print a tally (reports are numbered: r.md -> r-1.md, r-2.md ...).
        #[arg(long, default_value_t = 1, value_name = "N", requires = "headless")]
        repeat: u32,
        /// Record the dashboard session to FILE (e.g. talk.flrec) for `faultline replay`.
        #[arg(long, value_name = "FILE", conflicts_with = "headless")]
        record: Option<PathBuf>,
    },
}

/// mimalloc instead of the static glibc allocator: malloc and free were about 14% of the CPU
/// time of `faultline bench`'s worker and client in a profile. (The engine keeps glibc's: it
/// was as fast there in the same runs and used 20-40 MB less memory.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

impl Common {
    fn project(&self) -> anyhow::Result<faultline::runtime::Project> {
        Ok(faultline::runtime::Project::new(&self.project, self.port_offset)?)
    }

    fn choice(&self) -> faultline::runtime::RuntimeChoice {
        match self.runtime {
            RuntimeChoice::Auto => faultline::runtime::RuntimeChoice::Auto,
            RuntimeChoice::Docker => faultline::runtime::RuntimeChoice::Docker,
            RuntimeChoice::Local => faultline::runtime::RuntimeChoice::Local,
        }
    }
}

fn main() {
    // Errors a user can hit are messages, not crash reports: no backtrace, whatever
    // RUST_BACKTRACE says (a panic still prints one).
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Read where the runtime prepares its images and the bench its engine; set (or cleared:
    // clap already read a "false" from it) before any thread starts.
    if cli.common.no_build {
        std::env::set_var(faultline::runtime::images::NO_BUILD_ENV, "1");
    } else {
        std::env::remove_var(faultline::runtime::images::NO_BUILD_ENV);
    }
    let opens_dashboard =
        matches!(cli.command, None | Some(Command::Attach { .. }) | Some(Command::Run { headless: false, .. }) | Some(Command::Replay { to_cast: None, .. }));
    if !opens_dashboard {
        faultline::logging::to_stderr();
    }
    match cli.command {
        None => {
            let all_up = faultline::scenario::cli::default_dir(&cli.common.compose).join("all-up.toml");
            dashboard(&cli.common, Mode::Scenario(all_up), 1.0, true, None, false, cli.record)
        }
        Some(Command::Attach { engine, record }) => dashboard(&cli.common, Mode::Attach { engine_url: engine }, 1.0, false, None, true, record),
        Some(Command::Run { scenario, headless: false, report, speed, no_up, keep_history, record, .. }) => {
            dashboard(&cli.common, Mode::Scenario(scenario), speed, !no_up, report, keep_history, record)
        }
        Some(Command::Replay { recording, speed, to_cast, size }) => replay(&cli.common, &recording, speed, to_cast, &size),
        Some(Command::Bench(args)) => std::process::exit(faultline::bench::cli(&args)?),
        Some(Command::Validate { paths }) => match faultline::scenario::cli::validate(&paths, &cli.common.compose) {
            Ok(summary) => {
                print!("{summary}");
                Ok(())
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        },
        Some(Command::Run { scenario, headless, report, speed, no_up, keep_history, repeat, .. }) => {
            // Non-headless runs open the dashboard (the arm above); this one is --headless.
            let _ = headless;
            let project = cli.common.project()?;
            let rt = tokio::runtime::Runtime::new()?;
            let verdict = rt.block_on(faultline::scenario::cli::run_headless(
                &scenario,
                &cli.common.compose,
                cli.common.choice(),
                &project,
                speed,
                report,
                !no_up,
                keep_history,
                repeat,
            ))?;
            std::process::exit(verdict_exit_code(verdict))
        }
        Some(Command::Images { force, save, load }) => {
            use faultline::runtime::images;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                if let Some(file) = load {
                    println!("{}", faultline::runtime::bundle::load_images(&cli.common.compose, &file).await?);
                    return anyhow::Ok(());
                }
                let reports = images::ensure_images(&cli.common.compose, force).await?;
                println!("{}", images::summary(&reports));
                if let Some(file) = save {
                    println!("{}", faultline::runtime::bundle::save_images(&cli.common.compose, &file).await?);
                }
                Ok(())
            })
        }
        Some(Command::Rebuild { pod, json }) => {
            let project = cli.common.project()?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let access = faultline::runtime::Access::Control;
                let connected = faultline::runtime::connect(cli.common.choice(), &cli.common.compose, &project, access).await?;
                if let Some(notice) = &connected.notice {
                    eprintln!("{notice}");
                }
                if connected.runtime.kind() == faultline::runtime::RuntimeKind::Local {
                    anyhow::bail!(
                        "on local processes a pod lives only as long as the Faultline that started it, so this command's \
                         pod would stop with it; press R on the pod in the dashboard (`cargo run --release`) instead"
                    );
                }
                let started = std::time::Instant::now();
                let progress = |line: &str| eprintln!("  {line}");
                let stage = |s: faultline::runtime::RebuildStage| eprintln!("[{:>5.1}s] {}", started.elapsed().as_secs_f64(), s.word());
                let timings = faultline::runtime::workshop::timed_rebuild(&*connected.runtime, &pod, &progress, &stage).await?;
                if json {
                    println!("{}", serde_json::to_string(&timings)?);
                } else {
                    println!("{}\n{}", timings.summary, timings.line());
                }
                anyhow::Ok(())
            })
        }
        Some(Command::Down { volumes }) => {
            let project = cli.common.project()?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                // Refuses while another Faultline controls the project.
                let access = faultline::runtime::Access::Control;
                let connected = faultline::runtime::connect(cli.common.choice(), &cli.common.compose, &project, access).await?;
                if let Some(notice) = &connected.notice {
                    eprintln!("{notice}");
                }
                connected.runtime.down(volumes).await?;
                println!(
                    "removed everything of project `{}` ({} runtime{})",
                    project.name(),
                    connected.runtime.kind(),
                    if volumes { ", volumes too" } else { "" }
                );
                anyhow::Ok(())
            })
        }
    }
}

/// Opens the dashboard (`faultline`, `faultline run FILE`, `faultline attach`).
fn dashboard(common: &Common, mode: Mode, speed: f64, bring_up: bool, report: Option<PathBuf>, keep_history: bool, record: Option<PathBuf>) -> anyhow::Result<()> {
    // The dashboard owns the terminal: its own log (the SDK's warnings among others) goes to
    // a file, named on exit when something was written to it.
    let log = faultline::logging::dashboard_log_path();
    let log_size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let before = log_size(&log);
    if let Err(why) = faultline::logging::to_file(&log) {
        eprintln!("no dashboard log: {why}");
    }
    let result = dashboard_session(common, mode, speed, bring_up, report, keep_history, record);
    if log_size(&log) > before {
        eprintln!("Dashboard log: {}", log.display());
    }
    result
}

fn dashboard_session(common: &Common, mode: Mode, speed: f64, bring_up: bool, report: Option<PathBuf>, keep_history: bool, record: Option<PathBuf>) -> anyhow::Result<()> {
    let opts = faultline::dashboard::launch::LaunchOptions {
        mode,
        compose: common.compose.clone(),
        runtime: common.choice(),
        project: common.project()?,
        theme: common.theme.unwrap_or_default(),
        speed,
        bring_up,
        keep_history,
        leave_pods_running: common.on_exit.map(|o| o == OnExit::Leave),
        report,
        record,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let exit = rt.block_on(faultline::dashboard::launch::launch(opts))?;
    match exit.report.map(|r| r.verdict) {
        // Quitting the dashboard before the end judges nothing: not a failure.
        Some(Verdict::Failed) => std::process::exit(1),
        _ => Ok(()),
    }
}

/// `faultline replay`: plays a recording in the terminal, or exports it to an asciicast.
/// The theme is the recorded one unless `--theme` is given.
fn replay(common: &Common, recording: &std::path::Path, speed: f64, to_cast: Option<PathBuf>, size: &str) -> anyhow::Result<()> {
    let theme = common.theme;
    match to_cast {
        Some(out) => {
            let (width, height) = faultline::dashboard::cast::parse_size(size)?;
            let o = faultline::dashboard::cast::CastOptions { out: out.clone(), width, height, speed, theme };
            let summary = faultline::dashboard::cast::export(recording, &o)?;
            println!(
                "wrote {} ({} frames, {:.1}s at {width}x{height}); play it with `asciinema play {}`",
                out.display(),
                summary.frames,
                summary.duration_s,
                out.display()
            );
            Ok(())
        }
        None => {
            let rt = tokio::runtime::Runtime::new()?;
            Ok(rt.block_on(faultline::dashboard::replay::replay(recording, speed, theme))?)
        }
    }
}

/// 0 passed, 1 an expectation failed (or the run broke), 130 interrupted before it could be
/// judged (like a shell's Ctrl-C).
fn verdict_exit_code(v: Verdict) -> i32 {
    match v {
        Verdict::Passed => 0,
        Verdict::Failed => 1,
        Verdict::NotEvaluated => 130,
    }
}
