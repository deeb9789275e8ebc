//! ACME state on disk, under `<state_dir>/acme/<directory>/`:
//!
//! - `account.json`: the account URL and its private key (mode 0600);
//! - `certificates/<first-name>.pem`: the chain followed by its private key (mode 0600), one
//!   file so that chain and key are always replaced together.
//!
//! Every write goes to a temporary file in the same directory, is fsynced, then renamed over
//! the old file, and the directory is fsynced: a crash leaves the old file or the new one,
//! never a mix. A damaged file is reported and replaced by a new order, never served.

use crate::tls::{load_pem, CertError, LoadedCert};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where one ACME directory's state lives.
#[derive(Debug, Clone)]
pub struct AcmeStore {
    root: PathBuf,
}

/// What was found for a certificate.
#[derive(Debug)]
pub enum Stored {
    /// No file yet.
    Missing,
    /// A usable certificate.
    Found(LoadedCert),
    /// A file that cannot be served.
    Damaged(CertError),
}

impl AcmeStore {
    /// The store for `directory_url` under `state_dir`.
    pub fn new(state_dir: &Path, directory_url: &str) -> Self {
        AcmeStore {
            root: state_dir.join("acme").join(directory_key(directory_url)),
        }
    }

    /// The folder of this directory's state.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Create the folder (mode 0700) and make sure it can be written, so that a read-only
    /// state directory stops the start instead of wasting orders the CA counts.
    pub fn prepare(&self) -> std::io::Result<()> {
        let probe = self.root.join(".write-test");
        write_atomic(&probe, b"ok")?;
        std::fs::remove_file(probe)
    }

    /// Path of the account file.
    pub fn account_path(&self) -> PathBuf {
        self.root.join("account.json")
    }

    /// Path of a certificate bundle, by the certificate's first name.
    pub fn certificate_path(&self, first_name: &str) -> PathBuf {
        let file = first_name.replace('*', "_wildcard_");
        self.root.join("certificates").join(format!("{file}.pem"))
    }

    /// Read the account file, if there is one.
    pub fn read_account(&self) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.account_path()) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Save the account (atomically, mode 0600).
    pub fn write_account(&self, json: &[u8]) -> std::io::Result<()> {
        write_atomic(&self.account_path(), json)
    }

    /// Load the stored certificate named by `first_name`.
    pub fn read_certificate(&self, first_name: &str) -> Stored {
        let path = self.certificate_path(first_name);
        match std::fs::read(&path) {
            Ok(bytes) => match load_pem(&bytes, &bytes) {
                Ok(c) => Stored::Found(c),
                Err(e) => Stored::Damaged(e),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Stored::Missing,
            Err(source) => Stored::Damaged(CertError::Read { path, source }),
        }
    }

    /// Save a chain and its key as one bundle (atomically, mode 0600).
    pub fn write_certificate(
        &self,
        first_name: &str,
        chain_pem: &str,
        key_pem: &str,
    ) -> std::io::Result<PathBuf> {
        let path = self.certificate_path(first_name);
        let mut bundle = String::with_capacity(chain_pem.len() + key_pem.len() + 1);
        bundle.push_str(chain_pem.trim_end());
        bundle.push('\n');
        bundle.push_str(key_pem.trim_end());
        bundle.push('\n');
        write_atomic(&path, bundle.as_bytes())?;
        Ok(path)
    }

    /// The stored bundle of `first_name` as text (to share it with other instances).
    pub fn read_bundle(&self, first_name: &str) -> std::io::Result<String> {
        std::fs::read_to_string(self.certificate_path(first_name))
    }

    /// Save a bundle (chain, then key) as another instance stored it (atomically, mode 0600).
    pub fn write_bundle(&self, first_name: &str, bundle: &str) -> std::io::Result<PathBuf> {
        let path = self.certificate_path(first_name);
        write_atomic(&path, bundle.as_bytes())?;
        Ok(path)
    }
}

/// A directory URL as a folder name: `https://acme-v02.api.letsencrypt.org/directory` becomes
/// `acme-v02.api.letsencrypt.org-directory`.
pub fn directory_key(url: &str) -> String {
    let rest = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/');
    rest.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Write `data` to `path` so that readers see the old content or the new, never a part; the
/// file is created with mode 0600 (it holds private keys).
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn directory_urls_become_folder_names() {
        assert_eq!(
            directory_key("https://acme-v02.api.letsencrypt.org/directory"),
            "acme-v02.api.letsencrypt.org-directory"
        );
        assert_eq!(
            directory_key("https://127.0.0.1:14000/dir"),
            "127.0.0.1-14000-dir"
        );
    }

    #[test]
    fn writes_atomically_with_private_mode_and_reports_damage() {
        let dir = tempfile::tempdir().unwrap();
        let store = AcmeStore::new(dir.path(), "https://ca.test/dir");
        assert!(matches!(store.read_certificate("a.test"), Stored::Missing));

        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let path = store
            .write_certificate("a.test", &cert.pem(), &key.serialize_pem())
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        match store.read_certificate("a.test") {
            Stored::Found(c) => assert_eq!(c.names, vec!["a.test"]),
            other => panic!("expected the certificate, got {other:?}"),
        }
        // No temporary file is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());

        // A partial write (as after a crash of a non-atomic writer) is reported, not served.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() / 3]).unwrap();
        assert!(matches!(
            store.read_certificate("a.test"),
            Stored::Damaged(_)
        ));

        store.write_account(b"{}").unwrap();
        let mode = std::fs::metadata(store.account_path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
}
