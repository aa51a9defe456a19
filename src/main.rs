//! The `faultline` binary: the dashboard and the CLI.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Live demo and chaos-testing harness for durable workflow execution.
///
/// With no subcommand, opens the dashboard on the all-up scenario.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RuntimeChoice {
    Auto,
    Docker,
    Local,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Builds the binaries and the FROM scratch images (skips those already up to date).
    Images {
        /// Rebuild even when up to date.
        #[arg(long)]
        force: bool,
    },
    /// Removes every container, network (and with --volumes, volume) Faultline created.
    Down {
        #[arg(long)]
        volumes: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _ = (&cli.common.runtime, &cli.common.compose);
    match cli.command {
        None => anyhow::bail!("the dashboard is not wired yet"),
        Some(Command::Images { .. }) | Some(Command::Down { .. }) => {
            anyhow::bail!("not wired yet")
        }
    }
}
