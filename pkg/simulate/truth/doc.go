// Package truth holds the ground-truth records the simulator writes and the evaluator
// reads: labels.json (incidents and benign clients) and truth.jsonl (every call made).
//
// The formats are a contract between `apiscope simulate`, `apiscope evaluate` and anyone
// scoring a detector on a simulated capture; fields are only ever added.
package truth
