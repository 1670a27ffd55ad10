//! What the CLI prints and how it exits: data on stdout (a table or sentences on a terminal,
//! JSON with `--json`), messages on stderr, and one exit code per kind of failure.

use std::fmt::Display;

use serde::Serialize;

/// How a command ended, as its exit code (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Anything else: a refused request, a broken bundle, a failed signature check.
    Failure = 1,
    /// The command line itself is wrong (clap uses 2 as well).
    Usage = 2,
    /// The skill, version, team or token does not exist (or is not visible to you).
    NotFound = 3,
    /// No token, a token the server refuses, or a token without the rights needed.
    Auth = 4,
    /// Something is in the way: the version exists, a directory is not skilldex's or was
    /// edited locally, a skill is deleted.
    Conflict = 5,
    /// The server or a registry could not be reached, or failed.
    Network = 6,
    /// `install --check` found directories that disagree with the lock.
    Check = 7,
}

/// A failure that knows its exit code; anything else exits with 1.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failed {
    pub exit: Exit,
    pub message: String,
}

pub fn fail(exit: Exit, message: impl Into<String>) -> anyhow::Error {
    Failed { exit, message: message.into() }.into()
}

/// The exit code of an error: the first `Failed` in its chain decides.
pub fn exit_of(e: &anyhow::Error) -> Exit {
    e.chain().find_map(|c| c.downcast_ref::<Failed>()).map_or(Exit::Failure, |f| f.exit)
}

/// Where a command's result goes: JSON for scripts, or a human rendering.
#[derive(Debug, Clone, Copy, Default)]
pub struct Out {
    pub json: bool,
}

impl Out {
    /// Prints `value` as JSON with `--json`, else whatever `human` prints.
    pub fn show<T: Serialize>(&self, value: &T, human: impl FnOnce(&T)) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            human(value);
        }
        Ok(())
    }
}

/// A message for the person at the terminal (stderr, never mixed with data).
pub fn note(message: impl Display) {
    eprintln!("{message}");
}

pub fn warn(message: impl Display) {
    eprintln!("{} {message}", console::style("warning:").yellow().bold().for_stderr());
}

/// Prints rows under a header, columns aligned by their widths on screen.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| console::measure_text_width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(console::measure_text_width(cell));
        }
    }
    let line = |cells: &mut dyn Iterator<Item = String>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(c, &w)| console::pad_str(&c, w, console::Alignment::Left, None).into_owned())
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(&mut header.iter().map(|h| console::style(h).bold().to_string()));
    for row in rows {
        line(&mut row.iter().cloned());
    }
}

/// Whether progress bars are worth drawing: stderr is a terminal and the work is large.
pub fn progress_wanted(bytes: u64) -> bool {
    const THRESHOLD: u64 = 256 * 1024;
    bytes >= THRESHOLD && console::Term::stderr().features().is_attended()
}

/// A byte progress bar on stderr, or a hidden one when `progress_wanted` says no.
pub fn progress(total: u64, message: String) -> indicatif::ProgressBar {
    if !progress_wanted(total) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_in_the_chain_decides_the_exit_code() {
        let e = fail(Exit::NotFound, "no such skill");
        assert_eq!(exit_of(&e), Exit::NotFound);
        let wrapped = e.context("installing acme/demo");
        assert_eq!(exit_of(&wrapped), Exit::NotFound);
        assert_eq!(exit_of(&anyhow::anyhow!("plain")), Exit::Failure);
    }
}
