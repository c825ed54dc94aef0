//! The iPXE script a machine gets, rendered from what the server knows.
//!
//! Which script is a pure decision ([`choose`]); the text comes from
//! templates in `boot-assets/templates/` (built in, and overridable file by
//! file from the site's boot-assets directory).

use std::path::Path;

use serde::Serialize;

/// What the machine should do at this boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Boot its own disk.
    Local,
    /// Boot the registration environment, which checks in.
    Register,
    /// Boot the imaging environment for a pending task.
    Task(TaskBoot),
}

impl Action {
    /// Short name, for logs and host events.
    pub fn name(&self) -> String {
        match self {
            Action::Local => "local".into(),
            Action::Register => "register".into(),
            Action::Task(t) => format!("task {} ({})", t.id, t.action),
        }
    }
}

/// A pending task's boot entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskBoot {
    /// Task id.
    pub id: i64,
    /// What the environment is to do (`capture`, `restore`).
    pub action: String,
    /// Short-lived secret the environment presents back to the server.
    pub token: String,
}

/// What the registry knows of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Never registered (unknown, or seen by the proxy but never checked in).
    New,
    /// Registered and in service.
    Ready,
    /// Out of service.
    Retired,
}

/// Chooses what a machine does: a pending task first; a machine never
/// registered boots the registration environment when the site has one;
/// everything else boots locally.
pub fn choose(known: Known, pending: Option<TaskBoot>, env_available: bool) -> Action {
    match (known, pending) {
        (Known::Retired, _) => Action::Local,
        (_, Some(task)) => Action::Task(task),
        (Known::New, None) if env_available => Action::Register,
        _ => Action::Local,
    }
}

/// Everything a template can use.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptContext {
    /// parc's API base URL as this machine reaches it (HTTPS when the
    /// server has TLS).
    pub server: String,
    /// The certificate the environment pins when `server` is HTTPS (`parc.fp=`).
    pub fingerprint: Option<String>,
    /// Where boot assets are served over plain HTTP (`http://…/boot/assets`).
    pub assets: String,
    /// The machine's MAC, `52:54:00:12:34:56`.
    pub mac: String,
    /// Hostname, else MAC.
    pub label: String,
    /// UEFI firmware (local boot by `exit`) rather than BIOS (`sanboot`).
    pub efi: bool,
    /// UEFI: parc's local-boot loader is served (`{assets}/local/bootx64.efi`).
    pub local_loader: bool,
    /// Extra kernel arguments for the environment (`console=ttyS0`, …).
    pub env_args: String,
    /// The pending task, for `task.ipxe`.
    pub task: Option<TaskBoot>,
}

/// A template failed to load or render.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// A site template could not be read.
    #[error("boot template {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// A template is not valid or failed to render.
    #[error("boot template: {0:#}")]
    Template(#[from] minijinja::Error),
}

const BUILT_IN: [(&str, &str); 3] = [
    ("local.ipxe", include_str!("../../boot-assets/templates/local.ipxe")),
    ("register.ipxe", include_str!("../../boot-assets/templates/register.ipxe")),
    ("task.ipxe", include_str!("../../boot-assets/templates/task.ipxe")),
];

/// The loaded templates.
pub struct Templates {
    env: minijinja::Environment<'static>,
}

impl Templates {
    /// The built-in templates, each replaced by `dir/NAME` when that file
    /// exists. Templates are checked here, so a broken one fails start-up
    /// rather than a boot.
    pub fn load(dir: Option<&Path>) -> Result<Self, ScriptError> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let syntax = minijinja::syntax::SyntaxConfig::builder().keep_trailing_newline(true).trim_blocks(true).build()?;
        env.set_syntax(syntax);
        for (name, text) in BUILT_IN {
            let site = dir.map(|d| d.join(name)).filter(|p| p.is_file());
            let text = match site {
                Some(p) => std::fs::read_to_string(&p).map_err(|cause| ScriptError::Read { path: p.display().to_string(), cause })?,
                None => text.to_string(),
            };
            env.add_template_owned(name, text)?;
        }
        Ok(Self { env })
    }

    /// Renders the script for `action`.
    pub fn render(&self, action: &Action, ctx: &ScriptContext) -> Result<String, ScriptError> {
        let (name, ctx) = match action {
            Action::Local => ("local.ipxe", ctx.clone()),
            Action::Register => ("register.ipxe", ctx.clone()),
            Action::Task(t) => ("task.ipxe", ScriptContext { task: Some(t.clone()), ..ctx.clone() }),
        };
        Ok(self.env.get_template(name)?.render(minijinja::value::Serde(&ctx))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(efi: bool) -> ScriptContext {
        ScriptContext {
            server: "http://198.18.0.2:7420".into(),
            fingerprint: None,
            assets: "http://198.18.0.2:7420/boot/assets".into(),
            mac: "52:54:00:12:34:56".into(),
            label: "lab-a".into(),
            efi,
            local_loader: false,
            env_args: "console=ttyS0".into(),
            task: None,
        }
    }

    fn task() -> TaskBoot {
        TaskBoot { id: 12, action: "restore".into(), token: "t0k3n".into() }
    }

    #[test]
    fn choice_table() {
        assert_eq!(choose(Known::New, None, true), Action::Register);
        assert_eq!(choose(Known::New, None, false), Action::Local);
        assert_eq!(choose(Known::Ready, None, true), Action::Local);
        assert_eq!(choose(Known::Ready, Some(task()), true), Action::Task(task()));
        assert_eq!(choose(Known::New, Some(task()), false), Action::Task(task()));
        assert_eq!(choose(Known::Retired, Some(task()), true), Action::Local);
    }

    #[test]
    fn scripts_render_for_each_action() {
        let t = Templates::load(None).unwrap();
        let bios = t.render(&Action::Local, &ctx(false)).unwrap();
        assert!(bios.starts_with("#!ipxe\n") && bios.contains("sanboot --no-describe --drive 0x80"), "{bios}");
        let efi = t.render(&Action::Local, &ctx(true)).unwrap();
        assert!(efi.contains("\nexit") && !efi.contains("sanboot") && !efi.contains("chain"), "{efi}");
        let chained = t.render(&Action::Local, &ScriptContext { local_loader: true, ..ctx(true) }).unwrap();
        assert!(chained.contains("chain http://198.18.0.2:7420/boot/assets/local/bootx64.efi || exit"), "{chained}");
        let reg = t.render(&Action::Register, &ctx(true)).unwrap();
        assert!(reg.contains("kernel --name vmlinuz http://198.18.0.2:7420/boot/assets/env/vmlinuz initrd=initrd.img console=ttyS0"), "{reg}");
        assert!(reg.contains("parc.report=http://198.18.0.2:7420/api/v1/hosts/52:54:00:12:34:56/checkin"), "{reg}");
        let job = t.render(&Action::Task(task()), &ctx(false)).unwrap();
        assert!(job.contains("parc.task=12 parc.token=t0k3n") && job.contains("parc.action=restore"), "{job}");
        assert!(!job.contains("parc.fp="), "{job}");
        // With TLS the kernel still comes over HTTP; the agent's API calls go to HTTPS, pinned.
        let tls = ScriptContext { server: "https://198.18.0.2:7420".into(), fingerprint: Some("ab".repeat(32)), assets: "http://198.18.0.2:7421/boot/assets".into(), ..ctx(false) };
        let job = t.render(&Action::Task(task()), &tls).unwrap();
        assert!(job.contains("kernel --name vmlinuz http://198.18.0.2:7421/boot/assets/env/vmlinuz"), "{job}");
        assert!(job.contains(&format!("parc.server=https://198.18.0.2:7420 parc.fp={} parc.mac=", "ab".repeat(32))), "{job}");
    }

    #[test]
    fn site_templates_override_and_are_checked_at_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("local.ipxe"), "#!ipxe\necho site {{ label }}\nexit\n").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        assert_eq!(t.render(&Action::Local, &ctx(false)).unwrap(), "#!ipxe\necho site lab-a\nexit\n");
        std::fs::write(dir.path().join("task.ipxe"), "#!ipxe\n{% if %}\n").unwrap();
        assert!(matches!(Templates::load(Some(dir.path())), Err(ScriptError::Template(_))));
    }
}
