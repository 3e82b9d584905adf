// Temporary experiment (deleted after use): how learnable are arousal and valence
// from fbank features with a linear model?
use emoflow_audio::corpus::Split;
use emoflow_audio::fbank::{Fbank, FbankOptions};
use emoflow_audio::synthetic::{SynthOptions, synth_recording};
use emoflow_audio::znorm::Stats;

fn design(opts: &SynthOptions, split: Split, n: usize) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let rec = synth_recording(opts, split, n).to_recording();
    let f = Fbank::new(&FbankOptions::default(), 16000).unwrap();
    let mut feats = f.compute(&rec.audio.samples, 2);
    Stats::of_frames(&feats, 40).apply(&mut feats);
    let frames = feats.len() / 40;
    // 40 ms frames: mean of 4 fbank frames; add log-energy-ish and a window mean over +-1 s
    let m = frames / 4;
    let mut x40: Vec<Vec<f64>> = (0..m).map(|j| (0..40).map(|d| (0..4).map(|i| feats[((4*j+i).min(frames-1))*40+d] as f64).sum::<f64>()/4.0).collect()).collect();
    // smooth over 2 s (50 frames) trailing the label by the lag (2 s = 50 frames)
    let lag = 50; let half = 25;
    let mut xs = Vec::new(); let mut ys = vec![Vec::new(), Vec::new()];
    for t in (lag+half)..m.min(rec.labels[0].values.len()) {
        let c = t - lag;
        let mut v = vec![1.0; 41];
        for d in 0..40 { v[d+1] = (c-half..c+half).map(|k| x40[k][d]).sum::<f64>() / (2*half) as f64; }
        // plus std over window of each dim (captures pitch/energy variation)
        xs.push(v);
        ys[0].push(rec.labels[0].values[t] as f64); ys[1].push(rec.labels[1].values[t] as f64);
    }
    x40.clear();
    (xs, ys)
}

fn solve(a: Vec<Vec<f64>>, b: Vec<f64>) -> Vec<f64> {
    let n = b.len(); let mut a = a; let mut b = b;
    for i in 0..n { let p = (i..n).max_by(|&x,&y| a[x][i].abs().total_cmp(&a[y][i].abs())).unwrap(); a.swap(i,p); b.swap(i,p);
        for r in i+1..n { let f = a[r][i]/a[i][i]; for c in i..n { a[r][c] -= f*a[i][c]; } b[r] -= f*b[i]; } }
    let mut x = vec![0.0; n]; for i in (0..n).rev() { let s: f64 = (i+1..n).map(|c| a[i][c]*x[c]).sum(); x[i] = (b[i]-s)/a[i][i]; } x
}

fn ccc(x: &[f64], y: &[f64]) -> f64 { let n = x.len() as f64; let mx = x.iter().sum::<f64>()/n; let my = y.iter().sum::<f64>()/n;
    let sxy = x.iter().zip(y).map(|(a,b)|(a-mx)*(b-my)).sum::<f64>()/n; let sx = x.iter().map(|a|(a-mx).powi(2)).sum::<f64>()/n; let sy = y.iter().map(|b|(b-my).powi(2)).sum::<f64>()/n;
    2.0*sxy/(sx+sy+(mx-my).powi(2)) }

fn main() {
    let opts = SynthOptions { seconds: 180.0, per_split: 4, ..SynthOptions::default() };
    let mut tx = Vec::new(); let mut ty = vec![Vec::new(), Vec::new()];
    for n in 1..=4 { let (x, y) = design(&opts, Split::Train, n); tx.extend(x); ty[0].extend(y[0].clone()); ty[1].extend(y[1].clone()); }
    let mut dx = Vec::new(); let mut dy = vec![Vec::new(), Vec::new()];
    for n in 1..=4 { let (x, y) = design(&opts, Split::Dev, n); dx.extend(x); dy[0].extend(y[0].clone()); dy[1].extend(y[1].clone()); }
    for (d, name) in ["arousal", "valence"].iter().enumerate() {
        let k = 41; let mut ata = vec![vec![0.0; k]; k]; let mut atb = vec![0.0; k];
        for (x, y) in tx.iter().zip(&ty[d]) { for i in 0..k { atb[i] += x[i]*y; for j in 0..k { ata[i][j] += x[i]*x[j]; } } }
        for i in 1..k { ata[i][i] += 1.0 * tx.len() as f64 * 0.01; }
        let w = solve(ata, atb);
        let pred: Vec<f64> = dx.iter().map(|x| x.iter().zip(&w).map(|(a,b)| a*b).sum()).collect();
        let tpred: Vec<f64> = tx.iter().map(|x| x.iter().zip(&w).map(|(a,b)| a*b).sum()).collect();
        println!("{name}: train CCC {:.3} dev CCC {:.3}", ccc(&tpred, &ty[d]), ccc(&pred, &dy[d]));
    }
}
