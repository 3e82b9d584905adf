//! Splitting row-wise work over a thread budget.

/// Fills `out`, a sequence of rows of `row_len` values, by calling
/// `work(first_row, rows)` on contiguous chunks of rows, one chunk per
/// thread, with at least `min_rows_per_thread` rows per thread (threads cost
/// more than they save on less). The calling thread takes the first chunk.
pub fn for_row_chunks<T, F>(
    out: &mut [T],
    row_len: usize,
    threads: usize,
    min_rows_per_thread: usize,
    work: F,
) where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync,
{
    if out.is_empty() || row_len == 0 {
        return;
    }
    let rows = out.len() / row_len;
    let threads = threads.clamp(1, rows.div_ceil(min_rows_per_thread.max(1)).max(1));
    let per_thread = rows.div_ceil(threads);
    let work = &work;
    std::thread::scope(|scope| {
        let mut chunks = out.chunks_mut(per_thread * row_len).enumerate();
        let first = chunks.next();
        for (i, chunk) in chunks {
            scope.spawn(move || work(i * per_thread, chunk));
        }
        if let Some((_, chunk)) = first {
            work(0, chunk);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_filled_once_with_its_index_whatever_the_split() {
        for threads in [1, 2, 3, 8] {
            for rows in [0, 1, 5, 17, 100] {
                let mut out = vec![usize::MAX; rows * 3];
                for_row_chunks(&mut out, 3, threads, 2, |first, chunk| {
                    for (k, row) in chunk.chunks_mut(3).enumerate() {
                        row.fill(first + k);
                    }
                });
                let expected: Vec<usize> = (0..rows).flat_map(|r| [r; 3]).collect();
                assert_eq!(out, expected, "threads {threads} rows {rows}");
            }
        }
    }
}
