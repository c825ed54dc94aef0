//! `parc agent`: the netboot environment's agent (crate `parc-agent`), with
//! the restart that ends every run.

use std::process::ExitCode;
use std::time::Duration;

use parc_agent::{say, Imaging, Settings};

use crate::cli::AgentArgs;
use crate::config::Config;

pub async fn run(cfg: Config, args: AgentArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings {
        cmdline: args.cmdline,
        sys_root: args.sys_root,
        dev_root: args.dev_root,
        imaging: Imaging { level: cfg.imaging.level, parallel: cfg.imaging.parallel },
    };
    let outcome = parc_agent::run(&settings).await;
    let poweroff = match &outcome {
        Ok(p) => {
            say("done");
            *p
        }
        Err(e) => {
            say(format!("FAILED: {e}"));
            false
        }
    };
    if args.no_reboot {
        return Ok(if outcome.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    // Whatever happened, the machine goes back to the server's decision:
    // its disk after a success, a retry (or its disk) after a failure.
    let delay = Duration::from_secs(if outcome.is_ok() { 1 } else { 10 });
    Err(parc_agent::restart(poweroff, delay).into())
}
