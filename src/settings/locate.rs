//! Where the workspace and its data live: `--workspace` > `PILOTE_WORKSPACE` > XDG config dir.

use std::fmt;
use std::path::PathBuf;

use directories::ProjectDirs;

/// How the workspace dir was chosen, so errors can say which knob to turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Env,
    Default,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Flag => "from --workspace",
            Self::Env => "from PILOTE_WORKSPACE",
            Self::Default => "the default workspace",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A workspace config dir and how it was found.
#[derive(Debug, Clone)]
pub struct Located {
    pub dir: PathBuf,
    pub origin: Origin,
}

impl Located {
    /// Resolves the config dir. `flag` already carries `PILOTE_WORKSPACE` when clap read it
    /// from the environment, hence `from_env`. A relative dir is made absolute here, once:
    /// paths joined to it later (a playbook, a plan) are given to processes that start
    /// elsewhere (`ansible-playbook` runs in its playbook's dir, the runner in its own), and
    /// would be looked for there a second time.
    pub fn resolve(flag: Option<PathBuf>, from_env: bool) -> Result<Self, String> {
        let flag = flag.map(|dir| std::path::absolute(&dir).unwrap_or(dir));
        match flag {
            Some(dir) if from_env => Ok(Self {
                dir,
                origin: Origin::Env,
            }),
            Some(dir) => Ok(Self {
                dir,
                origin: Origin::Flag,
            }),
            None => Ok(Self {
                dir: default_config_dir()?,
                origin: Origin::Default,
            }),
        }
    }
}

fn project_dirs() -> Result<ProjectDirs, String> {
    ProjectDirs::from("", "", "pilote").ok_or_else(|| {
        "cannot find the home directory: set HOME, or pass --workspace DIR".to_string()
    })
}

/// `$XDG_CONFIG_HOME/pilote`: the default workspace.
pub fn default_config_dir() -> Result<PathBuf, String> {
    Ok(project_dirs()?.config_dir().to_path_buf())
}

/// `$XDG_DATA_HOME/pilote`: workspaces' data dirs live below it, one per workspace name.
pub fn default_data_root() -> Result<PathBuf, String> {
    Ok(project_dirs()?.data_dir().to_path_buf())
}

/// `$XDG_STATE_HOME/pilote`: the log file.
pub fn state_dir() -> Result<PathBuf, String> {
    let dirs = project_dirs()?;
    Ok(dirs
        .state_dir()
        .map_or_else(|| dirs.data_local_dir().join("state"), |d| d.to_path_buf()))
}
