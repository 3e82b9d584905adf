//! The output cache: each node's outputs as Arrow IPC files under a key
//! hashed from the plugin file, the kind, the canonical parameters and the
//! keys of its inputs.
//!
//! An entry is a directory `ROOT/KEY/` with one `PORT.arrow` per output,
//! the node's `artifacts/`, and `manifest.json`. It is built in
//! `ROOT/KEY.partial/` (each file written to a temporary name, fsynced and
//! renamed; the manifest last) and then renamed to `ROOT/KEY/` in one step,
//! so a run killed at any moment leaves no directory that reads as a valid
//! entry. `KEY.partial/artifacts/` survives a killed run on purpose: a
//! training node finds its checkpoints there and resumes. `KEY.lock` keeps
//! two processes sharing the cache from building the same entry at once.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatchReader;
use serde::{Deserialize, Serialize};

use emoflow_sdk::{Error, Result};

pub const MANIFEST: &str = "manifest.json";

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
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::data(format!("{}: not an emoflow output manifest: {e}", path.display())))?;
        for p in &manifest.ports {
            let file = dir.join(&p.file);
            match std::fs::metadata(&file) {
                Ok(m) if m.len() == p.bytes => {}
                Ok(m) => return Err(Error::data(format!("{}: {} bytes, the manifest says {}", file.display(), m.len(), p.bytes))),
                Err(e) => return Err(Error::io(&file, e)),
            }
        }
        Ok(Entry { dir: dir.to_path_buf(), manifest })
    }

    pub fn port_path(&self, port: &str) -> Option<PathBuf> {
        self.manifest.ports.iter().find(|p| p.port == port).map(|p| self.dir.join(&p.file))
    }

    /// Opens an output for reading, as a node input.
    pub fn open(&self, port: &str) -> Result<Box<dyn RecordBatchReader + Send>> {
        let path = self
            .port_path(port)
            .ok_or_else(|| Error::failed(format!("cache entry {} lacks output `{port}`", self.dir.display())))?;
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let reader = FileReader::try_new(std::io::BufReader::new(file), None)
            .map_err(|e| Error::io(&path, e))?;
        Ok(Box::new(reader))
    }
}

/// The cache key of a node.
pub fn key(plugin_hash: &str, kind: &str, canonical_params: &str, inputs: &[(String, String, String)]) -> String {
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

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The committed entry for `key`, if it is complete and intact.
    pub fn lookup(&self, key: &str) -> Option<Entry> {
        Entry::read(&self.root.join(key)).ok().filter(|e| e.manifest.key == key)
    }

    /// Holds `KEY` for this process until the lock is dropped: processes
    /// sharing a cache (a sweep's Slurm array tasks) compute each entry once;
    /// the others wait and then find it committed.
    pub fn lock(&self, key: &str) -> Result<File> {
        std::fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let path = self.root.join(format!("{key}.lock"));
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        if file.try_lock().is_err() {
            tracing::info!("waiting for another process computing this entry");
            file.lock().map_err(|e| Error::io(&path, e))?;
        }
        Ok(file)
    }

    /// Prepares `KEY.partial/`, keeping artifacts from an interrupted run.
    pub fn stage(&self, key: &str) -> Result<Staging> {
        let dir = self.root.join(format!("{key}.partial"));
        std::fs::create_dir_all(dir.join("artifacts")).map_err(|e| Error::io(&dir, e))?;
        let _ = std::fs::remove_file(dir.join(MANIFEST));
        Ok(Staging { dir, key: key.to_string(), ports: Vec::new() })
    }
}

/// An entry being written.
pub struct Staging {
    pub dir: PathBuf,
    key: String,
    ports: Vec<PortFile>,
}

impl Staging {
    /// Writes ports into `dir`, prepared by another process's [`Cache::stage`]
    /// (a worker's side of an entry); that process commits.
    pub fn writer(dir: PathBuf) -> Staging {
        Staging { dir, key: String::new(), ports: Vec::new() }
    }

    /// The port files written.
    pub fn into_ports(self) -> Vec<PortFile> {
        self.ports
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
        let mut rows = 0u64;
        {
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
        }
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        let bytes = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?.len();
        self.ports.push(PortFile { port: port.to_string(), file: file_name, bytes, rows });
        Ok(())
    }

    /// Writes the manifest last, then publishes the entry with one rename.
    pub fn commit(self, node: &str, kind: &str, cache: &Cache) -> Result<Entry> {
        let manifest = Manifest {
            key: self.key.clone(),
            node: node.to_string(),
            kind: kind.to_string(),
            emoflow_version: env!("CARGO_PKG_VERSION").to_string(),
            ports: self.ports,
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
        sync_dir(&cache.root);
        Ok(Entry { dir: target, manifest })
    }
}

pub use emoflow_sdk::files::write_atomic;

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
