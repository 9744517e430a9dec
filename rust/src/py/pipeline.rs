//! The one way a batch runs in the bindings: in chunks, each one
//!
//! 1. prepared on the calling thread with the GIL held (its items borrowed
//!    from their Python objects, or copied, or normalized by Python code),
//! 2. computed by the workers with the GIL released (pure Rust, all cores),
//! 3. finished on the calling thread with the GIL held (objects made, or
//!    statuses kept).
//!
//! A driver thread hands the prepared chunks to the workers in order while the
//! calling thread prepares the next chunk and finishes the last one, so with
//! `in_flight` = 2 the workers never wait for objects to be made. At most
//! `in_flight` chunks are queued or computing, and one more is being
//! finished, which bounds memory whatever the batch's size. Ctrl-C is checked between chunks. On any error nothing
//! more is computed: chunks still queued come back unprocessed, the driver is
//! joined without the GIL, and everything it held (items that borrow Python
//! objects) is dropped on the calling thread, with the GIL.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Chunks queued or computing while another is finished: two keep the workers
/// busy while the calling thread makes objects.
pub const IN_FLIGHT: usize = 2;

/// Items per chunk of a list batch: small enough that the pipeline fills and
/// drains quickly (the first chunk's items are borrowed, and the last chunk's
/// results turned into objects, while the workers wait).
pub const CHUNK_ITEMS: usize = 16_384;

/// Run a batch in chunks (see the module's documentation). `prepare` gives
/// the next chunk's input, or None when there is no more; `compute` runs
/// without the GIL; `finish` takes each chunk's output, in order. A batch of
/// one chunk is computed on the calling thread (GIL released), without a
/// driver thread.
pub fn run<'py, P, R>(
    py: Python<'py>,
    in_flight: usize,
    mut prepare: impl FnMut() -> PyResult<Option<P>>,
    compute: impl Fn(P) -> R + Sync,
    mut finish: impl FnMut(R) -> PyResult<()>,
) -> PyResult<()>
where
    P: Send,
    R: Send,
{
    if in_flight <= 1 {
        return run_here(py, prepare, compute, finish);
    }
    // A batch of one chunk has nothing to overlap: it runs on this thread, with
    // no driver thread to start (which costs more than a small batch's work).
    let Some(first) = prepare()? else {
        return Ok(());
    };
    let second = match prepare() {
        Ok(second) => second,
        Err(e) => {
            // As below: the chunk before a failed preparation is finished first.
            let output = py.detach(|| compute(first));
            py.check_signals()?;
            finish(output)?;
            return Err(e);
        }
    };
    let Some(second) = second else {
        let output = py.detach(|| compute(first));
        py.check_signals()?;
        return finish(output);
    };
    let mut ready = [Some(first), Some(second)].into_iter().flatten();
    let mut prepare = move || match ready.next() {
        Some(input) => Ok(Some(input)),
        None => prepare(),
    };
    let stop = AtomicBool::new(false);
    let worker_failed = || PyValueError::new_err("a batch worker failed");
    std::thread::scope(|scope| -> PyResult<()> {
        let (to_driver, inbox) = mpsc::sync_channel::<P>(in_flight);
        // What comes back: a chunk's output, or its input unprocessed after a stop.
        let (to_caller, outbox) = mpsc::channel::<Result<R, P>>();
        let mut outbox = Some(outbox);
        let (stopped, compute) = (&stop, &compute);
        let driver = scope.spawn(move || {
            for input in inbox {
                let done = if stopped.load(Ordering::Relaxed) {
                    Err(input)
                } else {
                    Ok(compute(input))
                };
                if to_caller.send(done).is_err() {
                    break;
                }
            }
        });
        let run = (|| -> PyResult<()> {
            let mut queued = 0usize;
            // An error while preparing is reported once the chunks before it
            // are finished, so that their own failures come first.
            let mut stopped_by: Option<PyErr> = None;
            // `prepare` is not called again once it has said there is no more
            // (an iterator of values may not be fused).
            let mut exhausted = false;
            let mut more = |queued: &mut usize| -> bool {
                if stopped_by.is_some() || exhausted {
                    return false;
                }
                match prepare() {
                    Ok(Some(input)) => {
                        if to_driver.send(input).is_err() {
                            stopped_by = Some(worker_failed());
                            return false;
                        }
                        *queued += 1;
                        true
                    }
                    Ok(None) => {
                        exhausted = true;
                        false
                    }
                    Err(e) => {
                        stopped_by = Some(e);
                        false
                    }
                }
            };
            while queued < in_flight && more(&mut queued) {}
            while queued > 0 {
                // The receiver crosses into the GIL-free closure and back.
                let rx = outbox.take().ok_or_else(worker_failed)?;
                let (got, rx) = py.detach(move || (rx.recv(), rx));
                outbox = Some(rx);
                queued -= 1;
                let output = got
                    .map_err(|_| worker_failed())?
                    .map_err(|_| worker_failed())?;
                py.check_signals()?;
                if in_flight > 1 {
                    // Queue the next chunk before finishing this one, so the
                    // workers are busy meanwhile.
                    more(&mut queued);
                    finish(output)?;
                } else {
                    // One chunk at a time: the next may need this one finished
                    // (a stepped job).
                    finish(output)?;
                    more(&mut queued);
                }
            }
            stopped_by.map_or(Ok(()), Err)
        })();
        if run.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        // On success the queue is empty; on an error the driver hands the
        // chunks still queued back unprocessed. Either way it is joined
        // without the GIL, and what it sent back is dropped here, with it.
        drop(to_driver);
        let joined = py.detach(|| driver.join());
        drop(outbox);
        run?;
        joined.map_err(|_| worker_failed())
    })
}

/// One chunk at a time, computed on the calling thread with the GIL released:
/// nothing to overlap, so no driver thread (whose fresh allocator heap would
/// also fault in the memory each chunk's bookkeeping takes).
fn run_here<P, R>(
    py: Python<'_>,
    mut prepare: impl FnMut() -> PyResult<Option<P>>,
    compute: impl Fn(P) -> R + Sync,
    mut finish: impl FnMut(R) -> PyResult<()>,
) -> PyResult<()>
where
    P: Send,
    R: Send,
{
    while let Some(input) = prepare()? {
        let output = py.detach(|| compute(input));
        py.check_signals()?;
        finish(output)?;
    }
    Ok(())
}

/// A batch that is one job stepped chunk by chunk (an Arrow column, whose
/// output is one buffer): `step` moves the job on by one chunk with the GIL
/// released and says whether more remain; Ctrl-C is checked between steps.
pub fn steps<J: Send>(
    py: Python<'_>,
    job: J,
    step: impl Fn(&mut J) -> PyResult<bool> + Sync,
) -> PyResult<J> {
    // Between steps the job waits here; when its last step is done, in `done`.
    let waiting = Cell::new(Some(job));
    let done = Cell::new(None);
    run(
        py,
        1,
        || Ok(waiting.take()),
        |mut job: J| {
            let more = step(&mut job);
            (job, more)
        },
        |(job, more): (J, PyResult<bool>)| {
            if more? {
                waiting.set(Some(job));
            } else {
                done.set(Some(job));
            }
            Ok(())
        },
    )?;
    done.take()
        .ok_or_else(|| PyValueError::new_err("a batch worker failed"))
}

/// Work on one value: with the GIL released when it is long (a large value,
/// a slow key derivation), held when it is short, which is cheaper than
/// releasing it.
pub fn one<T: Send>(py: Python<'_>, long: bool, work: impl FnOnce() -> T + Send) -> T {
    if long {
        py.detach(work)
    } else {
        work()
    }
}
