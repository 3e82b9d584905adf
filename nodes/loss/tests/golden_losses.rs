//! Each loss's value and gradient equal PyTorch's on the same random data
//! (scripts/golden/losses.py).

use std::collections::HashMap;

use tch::Tensor;

fn golden() -> HashMap<String, Tensor> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/losses.safetensors");
    Tensor::read_safetensors(path).expect("golden data (scripts/golden/losses.py)").into_iter().collect()
}

fn max_abs_difference(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

#[test]
fn values_and_gradients_equal_pytorch() {
    let golden = golden();
    for kind in emoflow_loss::KINDS {
        let name = kind.name.trim_start_matches("loss.");
        let get = |what: &str| {
            golden.get(&format!("{name}/{what}")).unwrap_or_else(|| panic!("{name}/{what} missing"))
        };
        let prediction = get("prediction").detach().set_requires_grad(true);
        let loss = (kind.function)(&prediction, get("target")).unwrap();
        assert_eq!(loss.size(), Vec::<i64>::new(), "{name}: loss must be a scalar");
        let expected_loss = get("loss").double_value(&[0]);
        let actual_loss = loss.double_value(&[]);
        assert!(
            (actual_loss - expected_loss).abs() <= 1e-5 * expected_loss.abs().max(1.0),
            "{name}: loss {actual_loss} vs PyTorch {expected_loss}"
        );
        loss.backward();
        let difference = max_abs_difference(&prediction.grad(), get("grad"));
        assert!(difference <= 1e-6, "{name}: gradient differs from PyTorch's by {difference}");
    }
}

#[test]
fn cost_sensitive_golden_case_has_misdecided_frames_so_the_cost_is_exercised() {
    // Guards the golden data itself: with every frame decided correctly the
    // cost-sensitive loss would equal plain CE and prove nothing.
    let golden = golden();
    let logits = &golden["cost_sensitive_ce/prediction"];
    let target = &golden["cost_sensitive_ce/target"];
    let wrong = logits.argmax(1, false).ne_tensor(target).sum(tch::Kind::Int64).int64_value(&[]);
    assert!(wrong > 5, "only {wrong} misdecided frames");
}
