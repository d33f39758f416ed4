//! `ferrobar init`: creates an application directory with the default node, as
//! `crossbar init` does: `DIR/.crossbar/config.json` plus `DIR/web/index.html`, which the
//! default node serves at `/`.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::DEFAULT_CONFIG_JSON;

/// The welcome page `ferrobar init` puts in `web/index.html`. Self-contained (no CDN): it
/// explains where things are and how a client connects.
pub const WELCOME_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>ferrobar node</title>
  <style>
    body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5; color: #222; }
    code { background: #f3f3f3; padding: 0.1rem 0.3rem; border-radius: 3px; }
  </style>
</head>
<body>
  <h1>Your ferrobar node is running</h1>
  <p>ferrobar is a WAMP v2 router (pub/sub and routed RPC), a drop-in replacement for the Crossbar.io router.</p>
  <ul>
    <li>WAMP clients connect to <code>ws://&lt;this host&gt;:8080/ws</code>, realm <code>realm1</code>. Anonymous clients may call, register, publish and subscribe to everything.</li>
    <li>The node info page is at <a href="/info">/info</a>.</li>
    <li>This page is <code>web/index.html</code>; every file in <code>web/</code> is served at <code>/</code>.</li>
    <li>The node configuration is <code>.crossbar/config.json</code> (Crossbar config version 2). Check it with <code>ferrobar check</code>.</li>
  </ul>
</body>
</html>
"#;

/// Why `ferrobar init` refused or failed.
#[derive(Debug, Error)]
pub enum InitError {
    /// The directory already holds a node config; it is never overwritten.
    #[error("{0} already exists: refusing to overwrite a node configuration")]
    AlreadyExists(PathBuf),
    /// A directory or file could not be created.
    #[error("cannot create {path}: {source}")]
    Io {
        /// What was being created.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// What `init` did.
#[derive(Debug)]
pub struct Initialized {
    /// The node directory (`DIR/.crossbar`).
    pub cbdir: PathBuf,
    /// Files written.
    pub created: Vec<PathBuf>,
    /// Files that existed already and were left alone (a user's own `web/index.html`).
    pub kept: Vec<PathBuf>,
}

/// Initializes `appdir` with the default node. Refuses when `.crossbar/config.json` or
/// `.crossbar/config.yaml` already exists; keeps an existing `web/index.html`.
pub fn init(appdir: &Path) -> Result<Initialized, InitError> {
    let cbdir = appdir.join(".crossbar");
    let config = cbdir.join("config.json");
    for existing in [cbdir.join("config.yaml"), config.clone()] {
        if existing.exists() {
            return Err(InitError::AlreadyExists(existing));
        }
    }
    let web = appdir.join("web");
    for dir in [&cbdir, &web] {
        fs::create_dir_all(dir).map_err(|source| InitError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    let mut out = Initialized {
        cbdir,
        created: Vec::new(),
        kept: Vec::new(),
    };
    // create_new: a config that appeared since the check above is still not overwritten.
    match write_new(&config, DEFAULT_CONFIG_JSON) {
        Ok(()) => out.created.push(config),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(InitError::AlreadyExists(config))
        }
        Err(source) => {
            return Err(InitError::Io {
                path: config,
                source,
            })
        }
    }
    let index = web.join("index.html");
    match write_new(&index, WELCOME_HTML) {
        Ok(()) => out.created.push(index),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => out.kept.push(index),
        Err(source) => {
            return Err(InitError::Io {
                path: index,
                source,
            })
        }
    }
    Ok(out)
}

fn write_new(path: &Path, text: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ferrobar-init-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn writes_config_and_page_then_refuses_a_second_time() {
        let dir = temp_dir("twice");
        let done = init(&dir).expect("first init");
        assert_eq!(done.created.len(), 2);
        let text = fs::read_to_string(dir.join(".crossbar/config.json")).unwrap();
        assert_eq!(text, DEFAULT_CONFIG_JSON);
        assert!(crate::config::parse_str(&text, &done.cbdir).is_ok());
        let err = init(&dir).unwrap_err();
        assert!(matches!(err, InitError::AlreadyExists(_)), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn keeps_an_existing_index_page() {
        let dir = temp_dir("keep");
        fs::create_dir_all(dir.join("web")).unwrap();
        fs::write(dir.join("web/index.html"), "mine").unwrap();
        let done = init(&dir).expect("init");
        assert_eq!(done.kept, vec![dir.join("web/index.html")]);
        assert_eq!(
            fs::read_to_string(dir.join("web/index.html")).unwrap(),
            "mine"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
