// Suggestions: "did you mean ...?" for misspelt keys and values.
// Levenshtein distance over Unicode scalars, compared case-insensitively with '-' and '_' treated alike.
// It only proposes a name; it never accepts one on the user's behalf.

import Foundation

/// Edit distance (insertions, deletions, substitutions) between two strings, counted in Unicode scalars.
public func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var previous = Array(0...y.count)
    var current = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
        current[0] = i
        for j in 1...y.count {
            let substitution = previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1)
            current[j] = min(substitution, previous[j] + 1, current[j - 1] + 1)
        }
        swap(&previous, &current)
    }
    return previous[y.count]
}

/// The candidate closest to `word`, or nil when none is plausibly what was meant.
///
/// Plausible means: one contains the other (`lr_rate` → `lr`, `adamw` → `adam`), or the edit distance is at most
/// a third of the word's length, and at least 2 (`batchsize` → `batch_size`, but `depth` suggests nothing).
/// Ties go to the earlier candidate.
public func closestMatch(to word: String, among candidates: [String]) -> String? {
    func fold(_ s: String) -> String { s.lowercased().replacingOccurrences(of: "-", with: "_") }
    let folded = fold(word)
    guard !folded.isEmpty else { return nil }
    var best: (name: String, distance: Int)?
    for candidate in candidates {
        let other = fold(candidate)
        let distance = editDistance(folded, other)
        let contains = min(other.count, folded.count) >= 2 && (other.contains(folded) || folded.contains(other))
        let plausible = contains || distance <= max(2, (folded.count + 2) / 3)
        guard plausible else { continue }
        if best == nil || distance < best!.distance { best = (candidate, distance) }
    }
    return best?.name
}
