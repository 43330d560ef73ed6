//! Replays the fuzzer's corpus (`fuzz/corpus/lab_file`) and the example labs through
//! [`labform_planner::check_bytes`]: every input must be handled without a panic.

use std::path::Path;

#[test]
fn the_fuzz_corpus_never_panics() {
    let corpus = Path::new("../../fuzz/corpus/lab_file");
    let mut count = 0;
    for entry in std::fs::read_dir(corpus).expect("the fuzz corpus is committed") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        labform_planner::check_bytes(&bytes);
        count += 1;
    }
    assert!(count >= 50, "the corpus has only {count} inputs");
}

#[test]
fn valid_examples_have_no_errors_through_the_fuzz_entry() {
    let text = std::fs::read("../../examples/seed-001.yaml").unwrap();
    assert_eq!(labform_planner::check_bytes(&text), 0);
    assert!(labform_planner::check_bytes(b"lab: [") > 0);
}
