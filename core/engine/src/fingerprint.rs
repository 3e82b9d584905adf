//! Content fingerprints of the files a node reads, with a stat cache.
//!
//! A node declares the files it will read
//! ([`ForeignNode::input_files`](emoflow_sdk::foreign::ForeignNode::input_files));
//! their fingerprint, a blake3 over each file's canonical path and content
//! hash, goes into the node's cache key, so editing, adding or removing a
//! file reruns the node. Reading a corpus on every run would cost seconds,
//! so, as DVC does, each file's hash is remembered under its stat key
//! (canonical path, size, mtime in nanoseconds, inode) in
//! `CACHE/stat-cache.json`, and a file whose stat key is unchanged is not
//! read again. `touch` changes the mtime: the file is hashed again, and its
//! unchanged content gives the same fingerprint.
//!
//! A file hashed within [`RACY_NS`] of its last modification could change
//! again within the same timestamp tick, keeping size and mtime: such an
//! entry is not trusted and the file is hashed again (git's "racily clean"
//! rule).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use emoflow_sdk::{Error, Result};

/// The stat cache's file under the cache root.
pub const STORE: &str = "stat-cache.json";

/// Version of the store's format; another version reads as empty.
const STORE_VERSION: u32 = 1;

/// How long after its last modification a file's hash is trusted from its
/// stat key: the coarsest common timestamp granularity (FAT's 2 s).
pub const RACY_NS: i64 = 2_000_000_000;

/// The fingerprint of a node's input files, and what computing it cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fingerprint {
    /// blake3 (hex) over the sorted (canonical path, content hash) pairs.
    pub hash: String,
    /// Distinct files (after resolving links).
    pub files: usize,
    /// Files read and hashed.
    pub hashed: usize,
    /// Files whose hash came from the stat cache.
    pub from_stat_cache: usize,
    pub seconds: f64,
}

/// What identifies a file's version without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stat {
    size: u64,
    mtime_ns: i64,
    inode: u64,
}

impl Stat {
    fn of(meta: &std::fs::Metadata) -> Stat {
        Stat {
            size: meta.len(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            inode: meta.ino(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Remembered {
    #[serde(flatten)]
    stat: Stat,
    /// When hashing began (ns since the epoch), for the racy rule.
    hashed_at_ns: i64,
    blake3: String,
}

impl Remembered {
    fn trusted_for(&self, stat: &Stat) -> bool {
        self.stat == *stat && self.stat.mtime_ns.saturating_add(RACY_NS) <= self.hashed_at_ns
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Store {
    version: u32,
    /// By canonical path (UTF-8 paths only; others are hashed every time).
    files: BTreeMap<String, Remembered>,
}

impl Store {
    /// The store at `path`; missing, unreadable, corrupt or of another
    /// version: empty (it is only a cache of hashes).
    fn read(path: &Path) -> Store {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Store>(&bytes).ok())
            .filter(|store| store.version == STORE_VERSION)
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    store: Store,
    /// Paths this process hashed, to merge into the file on save.
    updated: BTreeSet<String>,
}

/// The stat cache of one cache root, shared by the nodes of a run (they
/// fingerprint concurrently).
pub struct StatCache {
    path: PathBuf,
    state: Mutex<State>,
}

impl StatCache {
    /// The stat cache under `cache_root`; a missing, unreadable or corrupt
    /// store is an empty one.
    pub fn open(cache_root: &Path) -> StatCache {
        let path = cache_root.join(STORE);
        let store = Store::read(&path);
        StatCache {
            path,
            state: Mutex::new(State {
                store,
                updated: BTreeSet::new(),
            }),
        }
    }

    /// The fingerprint of `files`. A missing or unreadable file is an error
    /// naming it.
    pub fn fingerprint(&self, files: &[PathBuf]) -> Result<Fingerprint> {
        let start = Instant::now();
        let mut stats = files
            .iter()
            .map(|file| stat(file))
            .collect::<Result<Vec<_>>>()?;
        stats.sort_by(|a, b| a.0.cmp(&b.0));
        stats.dedup_by(|a, b| a.0 == b.0);
        let known: Vec<Option<String>> = {
            let state = self.lock();
            stats
                .iter()
                .map(|(path, stat)| {
                    let remembered = path.to_str().and_then(|p| state.store.files.get(p));
                    remembered
                        .filter(|r| r.trusted_for(stat))
                        .map(|r| r.blake3.clone())
                })
                .collect()
        };
        let unknown: Vec<&Path> = stats
            .iter()
            .zip(&known)
            .filter(|(_, hash)| hash.is_none())
            .map(|((path, _), _)| path.as_path())
            .collect();
        let hashed_at_ns = now_ns();
        let mut fresh = hash_files(&unknown)?.into_iter();
        let mut state = self.lock();
        let mut fingerprint = blake3::Hasher::new();
        for ((path, stat), hash) in stats.iter().zip(known.iter()) {
            let hash = match hash {
                Some(hash) => hash.clone(),
                None => {
                    let hash = fresh.next().expect("one fresh hash per unknown file");
                    if let Some(key) = path.to_str() {
                        let remembered = Remembered {
                            stat: *stat,
                            hashed_at_ns,
                            blake3: hash.clone(),
                        };
                        state.store.files.insert(key.to_string(), remembered);
                        state.updated.insert(key.to_string());
                    }
                    hash
                }
            };
            // Length-prefixed, so that no two lists hash alike.
            let path = path.as_os_str().as_encoded_bytes();
            fingerprint.update(&(path.len() as u64).to_le_bytes());
            fingerprint.update(path);
            fingerprint.update(hash.as_bytes());
        }
        Ok(Fingerprint {
            hash: fingerprint.finalize().to_hex().to_string(),
            files: stats.len(),
            hashed: unknown.len(),
            from_stat_cache: stats.len() - unknown.len(),
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Writes what this process hashed into the store, merged with what
    /// other processes sharing the cache saved before, atomically (a
    /// temporary file renamed over the store): two processes saving at once
    /// may lose each other's new hashes, which are then computed again, but
    /// never corrupt the store. Best effort: a read-only cache keeps serving
    /// hits without it.
    pub fn save(&self) {
        let mut state = self.lock();
        if state.updated.is_empty() {
            return;
        }
        let mut merged = Store::read(&self.path);
        merged.version = STORE_VERSION;
        for key in &state.updated {
            if let Some(remembered) = state.store.files.get(key) {
                merged.files.insert(key.clone(), remembered.clone());
            }
        }
        let json = serde_json::to_vec(&merged).expect("the stat cache serializes");
        match emoflow_sdk::files::write_atomic(&self.path, &json) {
            Ok(()) => state.updated.clear(),
            Err(e) => tracing::debug!("stat cache not saved: {e}"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the map half-updated in a harmful
        // way: at worst a hash is missing and is computed again.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The canonical path and stat key of a declared file.
fn stat(file: &Path) -> Result<(PathBuf, Stat)> {
    let unreadable = |e: std::io::Error| {
        Error::io(
            file,
            format!(
                "a declared input file cannot be read ({e}): restore it, or fix the node's parameters"
            ),
        )
    };
    let canonical = file.canonicalize().map_err(unreadable)?;
    let meta = std::fs::metadata(&canonical).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(Error::io(
            file,
            "a declared input file is not a regular file",
        ));
    }
    Ok((canonical, Stat::of(&meta)))
}

/// The blake3 (hex) of each file, read on up to as many threads as the
/// machine has cores (a corpus is many files of a few MB).
fn hash_files(files: &[&Path]) -> Result<Vec<String>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    let next = AtomicUsize::new(0);
    let mut hashes: Vec<Option<Result<String>>> = (0..files.len()).map(|_| None).collect();
    let done: Vec<Vec<(usize, Result<String>)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = files.get(i) else {
                            return done;
                        };
                        done.push((i, hash_file(file)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    for (i, hash) in done.into_iter().flatten() {
        hashes[i] = Some(hash);
    }
    hashes
        .into_iter()
        .zip(files)
        .map(|(hash, file)| hash.unwrap_or_else(|| Err(Error::io(file, "hashing it failed"))))
        .collect()
}

fn hash_file(path: &Path) -> Result<String> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file).map_err(|e| Error::io(path, e))?;
    Ok(hasher.finalize().to_hex().to_string())
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A corpus of small files whose mtimes lie in the past, as a corpus
    /// copied before the run does (see [`RACY_NS`]).
    struct Corpus(emoflow_faults::Scratch);

    impl Corpus {
        fn new(name: &str) -> Corpus {
            let corpus = Corpus(emoflow_faults::Scratch::new("fingerprint", name));
            for (name, text) in [
                ("train_1.wav", "RIFF one"),
                ("train_1.arff", "0.1117"),
                ("dev_1.wav", "RIFF two"),
            ] {
                corpus.write(name, text);
            }
            corpus
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        fn write(&self, name: &str, text: &str) {
            std::fs::write(self.path(name), text).unwrap();
            self.age(name);
        }

        /// Sets the file's mtime a minute back.
        fn age(&self, name: &str) {
            let minute_ago = SystemTime::now() - Duration::from_secs(60);
            File::options()
                .write(true)
                .open(self.path(name))
                .unwrap()
                .set_modified(minute_ago)
                .unwrap();
        }

        fn files(&self) -> Vec<PathBuf> {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&*self.0)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            files
        }

        fn cache(&self) -> StatCache {
            StatCache::open(&self.0.join("cache"))
        }
    }

    #[test]
    fn an_unchanged_corpus_is_served_from_the_stat_cache_across_runs() {
        let corpus = Corpus::new("unchanged");
        let first = corpus.cache().fingerprint(&corpus.files()).unwrap();
        assert_eq!(
            (first.files, first.hashed, first.from_stat_cache),
            (3, 3, 0)
        );

        let cache = corpus.cache();
        let again = cache.fingerprint(&corpus.files()).unwrap();
        assert_eq!(
            (again.hashed, again.from_stat_cache),
            (3, 0),
            "nothing saved yet"
        );
        cache.save();
        let next_run = corpus.cache().fingerprint(&corpus.files()).unwrap();
        assert_eq!((next_run.hashed, next_run.from_stat_cache), (0, 3));
        assert_eq!(next_run.hash, first.hash);
    }

    #[test]
    fn touch_rehashes_the_file_and_keeps_the_fingerprint() {
        let corpus = Corpus::new("touch");
        let cache = corpus.cache();
        let before = cache.fingerprint(&corpus.files()).unwrap();
        File::options()
            .write(true)
            .open(corpus.path("train_1.arff"))
            .unwrap()
            .set_modified(SystemTime::now())
            .unwrap();
        let touched = cache.fingerprint(&corpus.files()).unwrap();
        assert_eq!(
            (touched.hashed, touched.from_stat_cache),
            (1, 2),
            "the touched file was read again"
        );
        assert_eq!(touched.hash, before.hash);
    }

    #[test]
    fn editing_adding_or_removing_a_file_changes_the_fingerprint() {
        let corpus = Corpus::new("edit");
        let cache = corpus.cache();
        let original = cache.fingerprint(&corpus.files()).unwrap().hash;
        // Same size: the new mtime sends it to be read again.
        corpus.write("train_1.arff", "0.0803");
        let edited = cache.fingerprint(&corpus.files()).unwrap().hash;
        assert_ne!(edited, original);

        corpus.write("train_2.wav", "RIFF three");
        let added = cache.fingerprint(&corpus.files()).unwrap();
        assert_eq!(added.files, 4);
        assert_ne!(added.hash, edited);

        std::fs::remove_file(corpus.path("train_2.wav")).unwrap();
        let removed = cache.fingerprint(&corpus.files()).unwrap().hash;
        assert_eq!(removed, edited, "back to the edited corpus");
    }

    #[test]
    fn a_file_hashed_right_after_it_was_written_is_hashed_again() {
        let corpus = Corpus::new("racy");
        std::fs::write(corpus.path("dev_1.wav"), "RIFF new").unwrap();
        let cache = corpus.cache();
        cache.fingerprint(&corpus.files()).unwrap();
        let again = cache.fingerprint(&corpus.files()).unwrap();
        assert_eq!(
            (again.hashed, again.from_stat_cache),
            (1, 2),
            "its stat key could hide a same-tick edit"
        );
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let corpus = Corpus::new("missing");
        let mut files = corpus.files();
        files.push(corpus.path("test_1.wav"));
        let err = corpus.cache().fingerprint(&files).unwrap_err().to_string();
        assert!(
            err.starts_with(&corpus.path("test_1.wav").display().to_string()),
            "{err}"
        );
        assert!(err.contains("cannot be read"), "{err}");
    }

    #[test]
    fn the_same_file_named_twice_counts_once() {
        let corpus = Corpus::new("twice");
        let mut files = corpus.files();
        files.push(corpus.0.join(".").join("dev_1.wav"));
        let once = corpus.cache().fingerprint(&corpus.files()).unwrap();
        let twice = corpus.cache().fingerprint(&files).unwrap();
        assert_eq!((twice.files, twice.hash), (3, once.hash));
    }

    #[test]
    fn a_corrupt_store_is_an_empty_one_and_a_read_only_cache_does_not_fail() {
        let corpus = Corpus::new("store");
        let root = corpus.0.join("cache");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join(STORE), "{ not json").unwrap();
        let cache = corpus.cache();
        let fingerprint = cache.fingerprint(&corpus.files()).unwrap();
        assert_eq!(fingerprint.hashed, 3);
        cache.save();
        assert_eq!(
            corpus
                .cache()
                .fingerprint(&corpus.files())
                .unwrap()
                .from_stat_cache,
            3,
            "the save replaced it"
        );

        let unwritable = StatCache::open(Path::new("/proc/emoflow-no-such-cache"));
        unwritable.fingerprint(&corpus.files()).unwrap();
        unwritable.save();
    }

    #[test]
    fn runs_sharing_a_cache_keep_each_others_hashes() {
        let corpus = Corpus::new("shared");
        let (a, b) = (corpus.cache(), corpus.cache());
        a.fingerprint(&corpus.files()[..1]).unwrap();
        b.fingerprint(&corpus.files()[1..]).unwrap();
        a.save();
        b.save();
        let next = corpus.cache().fingerprint(&corpus.files()).unwrap();
        assert_eq!(
            next.from_stat_cache, 3,
            "the later save merged the earlier one"
        );
    }
}
