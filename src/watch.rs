//! Watch the config file for changes (notify), debounced, calling back once per burst of events.
//! The parent directory is watched, so editors that replace the file by rename are seen too.

use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// Keeps the watch alive; dropping it stops watching.
pub(crate) struct FileWatch {
    _watcher: notify::RecommendedWatcher,
}

/// Call `on_change` (from a background thread) after `path` changed and then stayed quiet for
/// `debounce`.
pub(crate) fn watch_file(
    path: &Path,
    debounce: Duration,
    on_change: impl Fn() + Send + 'static,
) -> Result<FileWatch, notify::Error> {
    let file: PathBuf = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = file.file_name().map(|n| n.to_os_string());
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            let ours = ev
                .paths
                .iter()
                .any(|p| p.file_name().map(|n| n.to_os_string()) == name);
            if ours && !ev.kind.is_access() {
                let _ = tx.send(());
            }
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    std::thread::Builder::new()
        .name("config-watch".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Debounce: wait until no event arrived for `debounce`.
                loop {
                    match rx.recv_timeout(debounce) {
                        Ok(()) => continue,
                        Err(mpsc::RecvTimeoutError::Timeout) => break,
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
                on_change();
            }
        })
        .map_err(|e| {
            notify::Error::generic(&format!("cannot start the config watch thread: {e}"))
        })?;
    Ok(FileWatch { _watcher: watcher })
}
