//! The output cache: each node's outputs as Arrow IPC files under a key
//! hashed from the plugin file, the kind, the canonical parameters and the
//! keys of its inputs.
//!
//! An entry is a directory `ROOT/KEY/` with one `PORT.arrow` per output,
//! the node's `artifacts/`, and `manifest.json` (each port file's size and
//! blake3). It is built in `ROOT/KEY.partial/` (each file written to a
//! temporary name, fsynced and renamed; the manifest last) and then renamed
//! to `ROOT/KEY/` in one step, so a run killed at any moment leaves no
//! directory that reads as a valid entry. `KEY.partial/artifacts/` survives
//! a killed or failed run on purpose: a training node finds its checkpoints
//! there and resumes; a failed build leaves nothing else behind.
//!
//! A lookup hashes the port files again: an entry whose files do not match
//! its manifest (a flipped bit, a file cut short, a manifest from before
//! hashes were recorded) is reported and rebuilt, never used. `KEY.lock`
//! keeps two processes sharing the cache from building the same entry at
//! once; it is taken only to build, so a read-only cache serves its hits.
//! `.used/KEY`'s modification time says when an entry was last used.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatchReader;
use serde::{Deserialize, Serialize};

use emoflow_sdk::{Error, Result};

pub const MANIFEST: &str = "manifest.json";
/// The directory of last-use marks, `ROOT/.used/KEY`.
pub const USED: &str = ".used";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub key: String,
    pub node: String,
    pub kind: String,
    pub emoflow_version: String,
    pub ports: Vec<PortFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortFile {
    pub port: String,
    pub file: String,
    pub bytes: u64,
    pub rows: u64,
    /// The file's blake3 (hex); absent in manifests written before entries
    /// were hashed, which a lookup therefore refuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
}

/// A committed entry (or a node's output directory when not caching).
#[derive(Debug, Clone)]
pub struct Entry {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Entry {
    /// A stored entry (a cache entry, or a copy of one such as a bundle's
    /// frozen node), checked complete: every port file has its recorded size.
    pub fn read(dir: &Path) -> Result<Entry> {
        let path = dir.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            Error::data(format!(
                "{}: not an emoflow output manifest: {e}",
                path.display()
            ))
        })?;
        for p in &manifest.ports {
            let file = dir.join(&p.file);
            match std::fs::metadata(&file) {
                Ok(m) if m.len() == p.bytes => {}
                Ok(m) => {
                    return Err(Error::data(format!(
                        "{}: {} bytes, the manifest says {}",
                        file.display(),
                        m.len(),
                        p.bytes
                    )));
                }
                Err(e) => return Err(Error::io(&file, e)),
            }
        }
        Ok(Entry {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// Checks every port file against its recorded blake3 ([`Entry::read`]
    /// checked the sizes); the reason names the first file that differs.
    pub fn verify(&self) -> std::result::Result<(), String> {
        for p in &self.manifest.ports {
            let file = self.dir.join(&p.file);
            let Some(recorded) = &p.blake3 else {
                return Err(format!(
                    "{}: no recorded hash (an entry written before entries were hashed)",
                    file.display()
                ));
            };
            let actual = hash_file(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            if actual != *recorded {
                return Err(format!(
                    "{}: its content does not match the blake3 in the manifest",
                    file.display()
                ));
            }
        }
        Ok(())
    }

    pub fn port_path(&self, port: &str) -> Option<PathBuf> {
        self.manifest
            .ports
            .iter()
            .find(|p| p.port == port)
            .map(|p| self.dir.join(&p.file))
    }

    /// Opens an output for reading, as a node input.
    pub fn open(&self, port: &str) -> Result<Box<dyn RecordBatchReader + Send>> {
        let path = self.port_path(port).ok_or_else(|| {
            Error::failed(format!(
                "cache entry {} lacks output `{port}`",
                self.dir.display()
            ))
        })?;
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let reader = FileReader::try_new(std::io::BufReader::new(file), None)
            .map_err(|e| Error::io(&path, e))?;
        Ok(Box::new(reader))
    }
}

/// The blake3 of a file, hex; memory-mapped and hashed on every core, as
/// a lookup hashes every output it serves.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_mmap_rayon(path)?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// The cache key of a node.
pub fn key(
    plugin_hash: &str,
    kind: &str,
    canonical_params: &str,
    inputs: &[(String, String, String)],
) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"emoflow-cache-v1\0");
    for part in [plugin_hash, kind, canonical_params] {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    for (port, upstream_key, upstream_port) in inputs {
        for part in [port, upstream_key, upstream_port] {
            h.update(part.as_bytes());
            h.update(b"\0");
        }
    }
    h.finalize().to_hex()[..32].to_string()
}

/// A node's key with the content of the files it reads (their
/// fingerprint): the same node reading other files is another entry.
pub fn with_files(key: &str, fingerprint: &str) -> String {
    let mut h = blake3::Hasher::new();
    for part in ["emoflow-cache-files-v1", key, fingerprint] {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    h.finalize().to_hex()[..32].to_string()
}

/// The hash of a stored entry's port files, for the key of a frozen node.
/// An unreadable file hashes as its error, so the run's own read reports it.
pub fn content_hash(dir: &Path) -> String {
    let mut h = blake3::Hasher::new();
    match Entry::read(dir) {
        Ok(entry) => {
            for p in &entry.manifest.ports {
                h.update(p.port.as_bytes());
                match std::fs::read(dir.join(&p.file)) {
                    Ok(bytes) => h.update(&bytes),
                    Err(_) => h.update(b"unreadable"),
                };
            }
        }
        Err(e) => {
            h.update(e.to_string().as_bytes());
        }
    }
    format!("frozen:{}", h.finalize().to_hex())
}

pub struct Cache {
    root: PathBuf,
}

/// What the cache holds for a key.
#[derive(Debug)]
pub enum Lookup {
    /// A committed entry whose files match its manifest.
    Hit(Entry),
    Miss,
    /// An entry that must not be used, and why (naming the file).
    Corrupt(String),
}

/// What a node gets from [`Cache::claim`].
pub enum Claim {
    Hit(Entry),
    /// Build the entry; the lock is held until dropped.
    Build(File),
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The committed entry for `key`, checked against its manifest's sizes
    /// and hashes.
    pub fn lookup(&self, key: &str) -> Lookup {
        let dir = self.root.join(key);
        if std::fs::symlink_metadata(&dir).is_err() {
            return Lookup::Miss;
        }
        let entry = match Entry::read(&dir) {
            Ok(entry) => entry,
            Err(e) => return Lookup::Corrupt(e.to_string()),
        };
        if entry.manifest.key != key {
            return Lookup::Corrupt(format!(
                "{}: the manifest is for key {}",
                dir.join(MANIFEST).display(),
                entry.manifest.key
            ));
        }
        match entry.verify() {
            Ok(()) => Lookup::Hit(entry),
            Err(why) => Lookup::Corrupt(why),
        }
    }

    /// The intact entry for `key`, or the lock under which node `node`
    /// builds it. A hit takes no lock, so a read-only cache serves every
    /// entry it holds; a corrupt entry is reported and rebuilt.
    pub fn claim(&self, key: &str, node: &str) -> Result<Claim> {
        match self.lookup(key) {
            Lookup::Hit(entry) => return Ok(self.hit(key, entry)),
            Lookup::Corrupt(why) => {
                tracing::warn!("cache entry {key} of node `{node}` is corrupt: {why}; rebuilding")
            }
            Lookup::Miss => {}
        }
        let lock = self.lock(key)?;
        // Another process may have built it while this one waited.
        if let Lookup::Hit(entry) = self.lookup(key) {
            return Ok(self.hit(key, entry));
        }
        Ok(Claim::Build(lock))
    }

    fn hit(&self, key: &str, entry: Entry) -> Claim {
        self.mark_used(key);
        Claim::Hit(entry)
    }

    /// Holds `KEY` for this process until the lock is dropped: processes
    /// sharing a cache (a sweep's Slurm array tasks) compute each entry once;
    /// the others wait and then find it committed.
    fn lock(&self, key: &str) -> Result<File> {
        let path = self.root.join(format!("{key}.lock"));
        let unwritable = |e: std::io::Error| {
            Error::io(
                &path,
                format!(
                    "{e}: cannot build entry {key} in this cache (read-only? point --cache at a writable directory)"
                ),
            )
        };
        std::fs::create_dir_all(&self.root).map_err(unwritable)?;
        let file = File::create(&path).map_err(unwritable)?;
        if file.try_lock().is_err() {
            tracing::info!("waiting for another process computing this entry");
            file.lock().map_err(|e| Error::io(&path, e))?;
        }
        Ok(file)
    }

    /// Records that `key` was used now: the modification time of
    /// `.used/KEY`, outside the entry so that a hit never writes into it.
    /// Best effort: a read-only cache keeps no record.
    fn mark_used(&self, key: &str) {
        let dir = self.root.join(USED);
        let _ = std::fs::create_dir_all(&dir)
            .and_then(|()| File::create(dir.join(key)))
            .and_then(|mark| mark.set_modified(SystemTime::now()));
    }

    /// Prepares `KEY.partial/`, keeping artifacts from an interrupted run.
    pub fn stage(&self, key: &str) -> Result<Staging> {
        let dir = self.root.join(format!("{key}.partial"));
        std::fs::create_dir_all(dir.join("artifacts")).map_err(|e| Error::io(&dir, e))?;
        let _ = std::fs::remove_file(dir.join(MANIFEST));
        Ok(Staging {
            dir,
            key: key.to_string(),
            ports: Vec::new(),
            committed: false,
        })
    }
}

/// An entry being written. Dropped uncommitted (the node failed), it
/// leaves only the checkpoints in `artifacts/` that a rerun resumes from.
pub struct Staging {
    pub dir: PathBuf,
    key: String,
    ports: Vec<PortFile>,
    committed: bool,
}

impl Staging {
    /// Writes ports into `dir`, prepared by another process's [`Cache::stage`]
    /// (a worker's side of an entry); that process commits.
    pub fn writer(dir: PathBuf) -> Staging {
        // That process's own `Staging` commits or cleans up, not this one.
        Staging {
            dir,
            key: String::new(),
            ports: Vec::new(),
            committed: true,
        }
    }

    /// The port files written.
    pub fn into_ports(mut self) -> Vec<PortFile> {
        std::mem::take(&mut self.ports)
    }

    /// Records port files a worker wrote into this entry.
    pub fn add_ports(&mut self, ports: Vec<PortFile>) {
        self.ports.extend(ports);
    }

    pub fn artifact_dir(&self) -> PathBuf {
        self.dir.join("artifacts")
    }

    /// Drains a node's output stream into `PORT.arrow` atomically.
    pub fn write_port(&mut self, port: &str, stream: impl RecordBatchReader) -> Result<()> {
        let file_name = format!("{port}.arrow");
        let path = self.dir.join(&file_name);
        let tmp = self.dir.join(format!(".{file_name}.tmp"));
        let written = (|| -> Result<u64> {
            let mut rows = 0u64;
            let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            let mut writer = FileWriter::try_new(std::io::BufWriter::new(file), &stream.schema())
                .map_err(|e| Error::io(&tmp, e))?;
            for batch in stream {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer.write(&batch).map_err(|e| Error::io(&tmp, e))?;
            }
            writer.finish().map_err(|e| Error::io(&tmp, e))?;
            let file = writer.into_inner().map_err(|e| Error::io(&tmp, e))?;
            let file = file.into_inner().map_err(|e| Error::io(&tmp, e.error()))?;
            file.sync_all().map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
            Ok(rows)
        })();
        let rows = written.inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        let bytes = std::fs::metadata(&path)
            .map_err(|e| Error::io(&path, e))?
            .len();
        let hash = hash_file(&path).map_err(|e| Error::io(&path, e))?;
        self.ports.push(PortFile {
            port: port.to_string(),
            file: file_name,
            bytes,
            rows,
            blake3: Some(hash),
        });
        Ok(())
    }

    /// Writes the manifest last, then publishes the entry with one rename.
    pub fn commit(mut self, node: &str, kind: &str, cache: &Cache) -> Result<Entry> {
        let manifest = Manifest {
            key: self.key.clone(),
            node: node.to_string(),
            kind: kind.to_string(),
            emoflow_version: env!("CARGO_PKG_VERSION").to_string(),
            ports: std::mem::take(&mut self.ports),
        };
        let json = serde_json::to_vec_pretty(&manifest).expect("manifests serialize");
        write_atomic(&self.dir.join(MANIFEST), &json)?;
        let target = cache.root.join(&self.key);
        if target.exists() {
            // An earlier or concurrent run committed the same key: same inputs,
            // same outputs. Replace it so the artifacts match the manifest.
            std::fs::remove_dir_all(&target).map_err(|e| Error::io(&target, e))?;
        }
        std::fs::rename(&self.dir, &target).map_err(|e| Error::io(&target, e))?;
        self.committed = true;
        sync_dir(&cache.root);
        Ok(Entry {
            dir: target,
            manifest,
        })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let artifacts = self.artifact_dir();
        let checkpoints =
            std::fs::read_dir(&artifacts).is_ok_and(|mut files| files.next().is_some());
        if !checkpoints {
            let _ = std::fs::remove_dir_all(&self.dir);
            return;
        }
        for file in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let path = file.path();
            if path != artifacts {
                let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
            }
        }
    }
}

pub use emoflow_sdk::files::write_atomic;

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
