//! Reading a recording back, line by line (a two-hour workshop is not loaded whole).
//!
//! The header is checked before anything else: not a recording, a newer format version, and an
//! empty file each get an error that says what to do. A damaged line in the middle stops the
//! reading with its line number; a last line cut short (a crash while writing) is skipped.

use std::fs::File;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};

use super::{Entry, Header, RecordError, FORMAT, VERSION};

/// An open recording: its header, then its entries in order.
pub struct Recording {
    pub header: Header,
    path: PathBuf,
    lines: Lines<BufReader<File>>,
    line_no: usize,
    /// A line that did not parse, held until we know whether it was the last one.
    held: Option<(usize, String)>,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recording({}, line {})", self.path.display(), self.line_no)
    }
}

impl Recording {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<Recording, RecordError> {
        let file = File::open(path).map_err(|source| RecordError::Open { path: path.to_path_buf(), source })?;
        let mut lines = BufReader::new(file).lines();
        let first = match lines.next() {
            None => return Err(RecordError::Empty { path: path.to_path_buf() }),
            Some(Err(e)) => return Err(not_a_recording(path, format!("its first line is not text: {e}"))),
            Some(Ok(l)) => l,
        };
        let header = parse_header(path, &first)?;
        Ok(Recording { header, path: path.to_path_buf(), lines, line_no: 1, held: None })
    }

    /// The next entry; `None` at the end. A damaged line is an error only when more follows.
    pub fn next_entry(&mut self) -> Option<Result<Entry, RecordError>> {
        loop {
            let line = match self.lines.next() {
                None => return None,
                Some(Err(e)) => return Some(Err(self.corrupt(self.line_no + 1, e.to_string()))),
                Some(Ok(l)) => l,
            };
            self.line_no += 1;
            if let Some((n, why)) = self.held.take() {
                // Not the last line after all: the damage is in the middle.
                return Some(Err(self.corrupt(n, why)));
            }
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Entry>(&line) {
                Ok(e) => return Some(Ok(e)),
                Err(e) => self.held = Some((self.line_no, e.to_string())),
            }
        }
    }

    /// The line a damaged last line was skipped at, if one was.
    pub fn cut_short_at(&self) -> Option<usize> {
        self.held.as_ref().map(|(n, _)| *n)
    }

    fn corrupt(&self, line: usize, why: String) -> RecordError {
        RecordError::Corrupt { path: self.path.clone(), line, why }
    }
}

impl Iterator for Recording {
    type Item = Result<Entry, RecordError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry()
    }
}

fn not_a_recording(path: &Path, why: String) -> RecordError {
    RecordError::NotARecording { path: path.to_path_buf(), why }
}

/// Checks the format and version first, so a newer file is named as such rather than as
/// damaged.
fn parse_header(path: &Path, line: &str) -> Result<Header, RecordError> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| not_a_recording(path, format!("its first line is not JSON: {e}")))?;
    let format = value.get("format").and_then(|f| f.as_str());
    if format != Some(FORMAT) {
        let found = format.map(|f| format!("\"{f}\"")).unwrap_or_else(|| "none".into());
        return Err(not_a_recording(path, format!("its first line's \"format\" is {found}, not \"{FORMAT}\"")));
    }
    let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version > VERSION as u64 {
        let faultline = value.get("faultline").and_then(|v| v.as_str()).unwrap_or("newer").to_string();
        return Err(RecordError::Newer { path: path.to_path_buf(), found: version.min(u32::MAX as u64) as u32, faultline });
    }
    serde_json::from_value(value).map_err(|e| not_a_recording(path, format!("its header is incomplete: {e}")))
}
