//! Errors of the scenario module: diagnostics that point at a file, line and column, and the
//! errors a run can end with.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a scenario file, at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
    /// The source line the position is on (empty when the file could not be read).
    pub source_line: String,
}

impl Diagnostic {
    /// A diagnostic at byte offset `span.start` of `text`.
    pub fn at(file: &Path, text: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let (line, column) = line_col(text, span.start);
        let source_line = text.lines().nth(line - 1).unwrap_or("").to_string();
        Diagnostic { file: file.to_path_buf(), line, column, message: message.into(), source_line }
    }

    /// A diagnostic about a whole file (I/O), placed at 1:1.
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            message: message.into(),
            source_line: String::new(),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: message`, then the line with a caret under the column (compiler style).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)?;
        if !self.source_line.is_empty() {
            let gutter = self.line.to_string().len();
            write!(f, "\n{:>gutter$} | {}", self.line, self.source_line)?;
            write!(f, "\n{:>gutter$} | {}^", "", " ".repeat(self.column.saturating_sub(1)))?;
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

/// Every diagnostic of one `validate` call (all files), so a user fixes them in one pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Invalid {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        let n = self.diagnostics.len();
        write!(f, "\n{n} problem{} found; fix the file(s) and run `faultline validate` again", if n == 1 { "" } else { "s" })
    }
}

/// Errors of the scenario module outside validation.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("cannot read {path}: {message}; check the path (the topology is read from docker-compose.yml)")]
    Topology { path: PathBuf, message: String },
    #[error("cannot list scenario files in {path}: {message}")]
    Directory { path: PathBuf, message: String },
    #[error("cannot write the report {path}: {message}; check the directory exists and is writable")]
    Report { path: PathBuf, message: String },
    #[error("the report file must end in .json or .md, not `{0}`")]
    ReportFormat(PathBuf),
    #[error("engine: {0}")]
    Engine(String),
    #[error("pods: {0}")]
    Runtime(String),
    #[error("{0}")]
    Usage(String),
}
