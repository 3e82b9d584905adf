// TEMPORARY (not committed): CPU-time measurement under a loaded machine.
use emoflow_decode::arpa::Vocab;
use emoflow_decode::ngram::{regions, train_witten_bell};
use emoflow_decode::search::{Lattice, Scorer, beam_search};
use emoflow_decode::transitions::Transitions;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
fn cpu() -> f64 { let s = std::fs::read_to_string("/proc/self/stat").unwrap(); let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect(); (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0 }
fn main() {
    let k: usize = std::env::args().nth(2).map(|a| a.parse().unwrap()).unwrap_or(10);
    let frames = 7501;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let train: Vec<Vec<u32>> = (0..18).map(|_| { let mut c = rng.random_range(0..k) as i64; (0..frames).map(|_| { if rng.random_bool(0.03) { c = (c + rng.random_range(-2i64..=2)).clamp(0, k as i64 -1);} c as u32}).collect()}).collect();
    let t = Transitions::estimate(train.iter().map(Vec::as_slice), k, 1.0, "x").unwrap();
    let s: Vec<Vec<u32>> = train.iter().map(|l| regions(l)).collect();
    let order: usize = std::env::args().nth(1).map(|a| a.parse().unwrap()).unwrap_or(3);
    let lm = train_witten_bell(s.iter().map(Vec::as_slice), Vocab::new(k).unwrap(), order).unwrap();
    let em: Vec<f64> = (0..frames).flat_map(|_| { let f: Vec<f64> = (0..k).map(|_| rng.random_range(0.01..1.0)).collect(); let tot: f64 = f.iter().sum(); f.into_iter().map(move |p| (p/tot).ln()) }).collect();
    let sc = Scorer::new(&t, Some(&lm), 8.0, "x").unwrap();
    let mut lat = Lattice::new(&sc, "x").unwrap();
    let n = 100;
    let c0 = cpu(); let t0 = std::time::Instant::now();
    let mut score = 0.0;
    for _ in 0..n { score = lat.decode(&em).unwrap().score; }
    let c1 = cpu();
    println!("order {order} K {k} states {} cpu/decode {:.3} ms wall/decode {:.3} ms score {score}", lat.num_states(), (c1-c0)/n as f64*1e3, t0.elapsed().as_secs_f64()/n as f64*1e3);
    let t0 = std::time::Instant::now(); let b = beam_search(&sc, &em, 64); println!("beam64 {:.1} ms score {}", t0.elapsed().as_secs_f64()*1e3, b.score);
}
