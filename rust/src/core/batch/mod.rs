//! The batch engine: seal, open and rotate many messages in one call.
//!
//! Work is done a chunk at a time so memory stays bounded whatever the batch
//! size: for each chunk the output length of every item is computed first, one
//! buffer is allocated for the whole chunk and split into per-item slices, and
//! the items are processed in parallel (rayon) into their slices. The output
//! lengths come from each input's length and header alone (`Batch::guess`):
//! the fill checks them as it goes, and lays out properly only from where one
//! fails. Each message is then decoded and parsed once. Results
//! keep the input order; every item has its own status, so one bad message
//! never stops the others.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use zeroize::{Zeroize, Zeroizing};

use crate::core::error::{Error, Result};
use crate::core::format::{self, Encoding, Parsed};
use crate::core::seal::envelope::RunMemo;
use crate::core::seal::{Nonce, Sealer};

pub mod stream;
pub mod stream_file;
pub mod wraps;

/// Items of a batch: any indexable collection of byte strings.
pub trait Items: Sync {
    fn len(&self) -> usize;
    /// The item at `i` (`i < len()`); out-of-range gives an empty slice.
    fn get(&self, i: usize) -> &[u8];
    /// The length of the item at `i`.
    fn item_len(&self, i: usize) -> usize {
        self.get(i).len()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: AsRef<[u8]> + Sync> Items for Vec<T> {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn get(&self, i: usize) -> &[u8] {
        <[T]>::get(self, i).map(AsRef::as_ref).unwrap_or(&[])
    }
}

/// A column in Arrow's layout: `offsets` (n + 1 entries) into `data`.
pub struct OffsetColumn<'a, O> {
    offsets: &'a [O],
    data: &'a [u8],
}

impl<'a, O: Copy + TryInto<usize> + Sync> OffsetColumn<'a, O> {
    /// Check the offsets once, so `get` can trust them.
    pub fn new(offsets: &'a [O], data: &'a [u8]) -> Result<Self> {
        let bad = || Error::Invalid("invalid offsets for a binary column".into());
        let mut prev = 0usize;
        for (i, o) in offsets.iter().enumerate() {
            let o: usize = (*o).try_into().map_err(|_| bad())?;
            if (i > 0 && o < prev) || o > data.len() {
                return Err(bad());
            }
            prev = o;
        }
        if offsets.is_empty() {
            return Err(bad());
        }
        Ok(Self { offsets, data })
    }
}

impl<O: Copy + TryInto<usize>> OffsetColumn<'_, O> {
    /// Where item `i` starts and ends in `data`.
    fn span(&self, i: usize) -> Option<(usize, usize)> {
        let bound = |j: usize| self.offsets.get(j).and_then(|o| (*o).try_into().ok());
        Some((bound(i)?, bound(i + 1)?))
    }
}

impl<O: Copy + TryInto<usize> + Sync> Items for OffsetColumn<'_, O> {
    fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
    fn get(&self, i: usize) -> &[u8] {
        self.span(i)
            .and_then(|(a, b)| self.data.get(a..b))
            .unwrap_or(&[])
    }
    fn item_len(&self, i: usize) -> usize {
        self.span(i).map_or(0, |(a, b)| b.saturating_sub(a))
    }
}

/// Contexts of a batch: none, one for every item, or one per item.
pub enum Contexts<'a> {
    None,
    One(&'a [u8]),
    Each(&'a dyn Items),
}

impl Contexts<'_> {
    pub fn get(&self, i: usize) -> &[u8] {
        match self {
            Contexts::None => &[],
            Contexts::One(c) => c,
            Contexts::Each(items) => items.get(i),
        }
    }
}

/// What `rotate` does with messages already under the active key and suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotateMode {
    /// Leave them unchanged.
    Auto,
    /// Encrypt them again (fresh salt or nonce).
    Reencrypt,
}

/// The outcome of one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Done,
    /// Rotation found nothing to do: the input is the output.
    Unchanged,
    Failed,
    /// A null input (Arrow), passed through as null.
    Null,
}

/// The results of one chunk: item `i` is `data[offsets[i]..offsets[i + 1]]`.
pub struct ChunkOutput {
    pub offsets: Vec<usize>,
    pub data: Zeroizing<Vec<u8>>,
    pub status: Vec<Status>,
}

impl ChunkOutput {
    fn empty() -> Self {
        Self {
            offsets: Vec::new(),
            data: Zeroizing::new(Vec::new()),
            status: Vec::new(),
        }
    }

    pub fn item(&self, i: usize) -> &[u8] {
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => self.data.get(a..b).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// Remove the (zeroed) bytes of failed items from `data` in place, shifting
/// the items after them down and rewriting `offsets` (one more than `status`).
/// Returns the number of bytes still in use.
pub fn compact(data: &mut [u8], offsets: &mut [usize], status: &[Status]) -> usize {
    let mut used = 0usize;
    let mut start = offsets.first().copied().unwrap_or(0);
    for (i, s) in status.iter().enumerate() {
        let end = offsets.get(i + 1).copied().unwrap_or(start);
        if *s != Status::Failed {
            let len = end - start;
            if start != used {
                data.copy_within(start..end, used);
            }
            used += len;
        }
        start = end;
        if let Some(o) = offsets.get_mut(i + 1) {
            *o = used;
        }
    }
    if let Some(o) = offsets.first_mut() {
        *o = 0;
    }
    if let Some(rest) = data.get_mut(used..) {
        rest.fill(0);
    }
    used
}

/// Items per chunk: bounds memory and lets the caller check for interrupts.
pub const CHUNK_ITEMS: usize = 65_536;
/// Bytes per chunk, so huge values also come in bounded pieces.
pub const CHUNK_BYTES: usize = 64 << 20;

/// The first chunk of the items of a layout (`offsets`: n + 1 running output
/// offsets): at most `CHUNK_ITEMS` items, ending at the first item that brings
/// its output to `CHUNK_BYTES` or more; empty when there are no items. No pass
/// over the items: a binary search.
pub fn first_chunk(offsets: &[usize]) -> Range<usize> {
    let n = offsets.len().saturating_sub(1);
    let end = CHUNK_ITEMS.min(n);
    let base = offsets.first().copied().unwrap_or(0);
    let after = offsets.get(1..=end).unwrap_or(&[]);
    let under = after.partition_point(|o| o.saturating_sub(base) < CHUNK_BYTES);
    if under < after.len() {
        0..1 + under
    } else {
        0..end
    }
}

/// What a batch computes for each item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Encrypt plaintexts.
    Seal,
    /// Decrypt messages.
    Open,
    /// Re-encrypt (or re-wrap) messages under the active key.
    Rotate(RotateMode),
}

/// What the first pass decided for one item.
#[derive(Clone, Copy)]
struct Step {
    status: Status,
    work: Work,
}

/// Where each item's output goes and what to do with it: from a first pass
/// over the items ([`Batch::layout`]), or guessed from their lengths
/// ([`Batch::guess`]), or a guess followed by a first pass from some item on
/// ([`Layout::replace_from`]).
pub struct Layout {
    /// Batch index of the first item.
    first: usize,
    /// Running output offsets, one more than the items.
    pub offsets: Vec<usize>,
    /// Batch index of the first item planned by a first pass; the items
    /// before it are guessed.
    planned_from: usize,
    /// What the first pass decided, for the items from `planned_from` on.
    steps: Vec<Step>,
}

impl Layout {
    /// Output bytes of all the items.
    pub fn total(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    /// Replace this layout from item `rest.first` on with `rest` (a layout of
    /// the remaining items, from a first pass), placed where that item's
    /// output starts. The outputs before it keep their places.
    pub fn replace_from(&mut self, rest: Layout) -> Result<()> {
        let inconsistent = || Error::Invalid("batch layouts do not join".into());
        let at = rest
            .first
            .checked_sub(self.first)
            .ok_or_else(inconsistent)?;
        if at.checked_add(rest.offsets.len()) != Some(self.offsets.len()) {
            return Err(inconsistent());
        }
        let base = self.offsets.get(at).copied().ok_or_else(inconsistent)?;
        self.offsets.truncate(at);
        for o in rest.offsets {
            let o = o
                .checked_add(base)
                .ok_or_else(|| Error::Invalid("batch output is too large".into()))?;
            self.offsets.push(o);
        }
        self.planned_from = rest.planned_from;
        self.steps = rest.steps;
        Ok(())
    }
}

/// The parallel pool, rebuilt in a forked child (whose parent's threads are gone).
pub(crate) fn pool(threads: Option<usize>) -> Result<Arc<rayon::ThreadPool>> {
    static POOLS: Mutex<Vec<(u32, usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());
    let pid = std::process::id();
    let want = threads.unwrap_or(0);
    let mut pools = POOLS
        .lock()
        .map_err(|_| Error::Invalid("thread pool lock poisoned".into()))?;
    pools.retain(|(p, _, _)| *p == pid);
    if let Some((_, _, p)) = pools.iter().find(|(_, n, _)| *n == want) {
        return Ok(Arc::clone(p));
    }
    // num_threads(0) means rayon's default: RAYON_NUM_THREADS, else one per core.
    let built = rayon::ThreadPoolBuilder::new()
        .num_threads(want)
        .thread_name(|i| format!("sealbox-{i}"))
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start worker threads: {e}")))?;
    let built = Arc::new(built);
    pools.push((pid, want, Arc::clone(&built)));
    Ok(built)
}

/// Outputs at least this large are zeroed by the pool rather than by the
/// calling thread (see [`zeroed`]).
const PARALLEL_ZERO_BYTES: usize = 1 << 22;

/// A zeroed buffer of `len` bytes for a batch's output. A large one is
/// written by the pool's workers, a page-sized block at a time, so the first
/// touch of memory that the allocator has handed back to the kernel (a page
/// fault per 4 KiB) is shared between the workers instead of taken one page
/// after another on the calling thread: for a 189 MB output on two cores,
/// 48–59 ms instead of 97–106 ms (docs/backends.md).
pub fn zeroed(len: usize, threads: Option<usize>) -> Result<Vec<u8>> {
    const BLOCK: usize = 4096;
    if len < PARALLEL_ZERO_BYTES {
        return Ok(vec![0u8; len]);
    }
    let blocks = len.div_ceil(BLOCK);
    let mut out: Vec<[u8; BLOCK]> = Vec::with_capacity(blocks);
    pool(threads)?.install(|| {
        out.par_extend(
            (0..blocks)
                .into_par_iter()
                .with_min_len(64)
                .map(|_| [0u8; BLOCK]),
        );
    });
    let mut out = out.into_flattened();
    out.truncate(len);
    Ok(out)
}

/// Running offsets (from 0, one more than `lens`) of consecutive lengths.
fn running(lens: impl IntoIterator<Item = usize>) -> Result<Vec<usize>> {
    let lens = lens.into_iter();
    let mut offsets = Vec::with_capacity(lens.size_hint().0 + 1);
    let mut total = 0usize;
    offsets.push(0);
    for len in lens {
        total = total
            .checked_add(len)
            .ok_or_else(|| Error::Invalid("batch output is too large".into()))?;
        offsets.push(total);
    }
    Ok(offsets)
}

/// A zeroed buffer of `len` bytes that starts with the first `kept` bytes of
/// `data` (at most `len`); `data` is wiped, and freed first when none of it
/// is kept, so the two buffers are not held at once.
pub fn resized(
    data: Zeroizing<Vec<u8>>,
    kept: usize,
    len: usize,
    threads: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
    if kept == 0 {
        drop(data);
        return Ok(Zeroizing::new(zeroed(len, threads)?));
    }
    let mut out = Zeroizing::new(zeroed(len, threads)?);
    let kept = kept.min(len).min(data.len());
    if let (Some(to), Some(from)) = (out.get_mut(..kept), data.get(..kept)) {
        to.copy_from_slice(from);
    }
    Ok(out)
}

/// Below this many items a chunk is processed on the calling thread.
const PARALLEL_MIN_ITEMS: usize = 64;

/// What to do with one item, decided from its header in the layout pass. It
/// carries no lengths (the fill pass reads them from the header again), so a
/// step is two bytes per row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    /// Seal the input (a plaintext).
    Seal,
    /// Open the input; re-seal the plaintext if rotating.
    Open,
    /// Re-wrap an envelope message's data key.
    Rewrap,
    /// Copy a current message into the batch's encoding (it came in the other).
    Reencode,
    /// Nothing to compute (failed, null or unchanged).
    None,
}

/// One item's input, decoded (text to binary) and parsed once: the plan and
/// the work of the item both read this.
enum Input<'a> {
    /// A plaintext to seal.
    Plain(&'a [u8]),
    /// A message of any suite.
    Message(Parsed<'a>),
}

/// Decode and parse the input of one item, unless it is a plaintext. A
/// message that does not decode (or parse) is `Err`: the item fails.
#[inline]
fn decode<'a>(op: &Op, raw: &'a [u8]) -> Result<Cow<'a, [u8]>> {
    match op {
        Op::Seal => Ok(Cow::Borrowed(raw)),
        Op::Open | Op::Rotate(_) => format::decode(raw),
    }
}

#[inline]
fn parse<'a>(op: &Op, binary: &'a [u8]) -> Result<Input<'a>> {
    match op {
        Op::Seal => Ok(Input::Plain(binary)),
        Op::Open | Op::Rotate(_) => Parsed::parse(binary).map(Input::Message),
    }
}

fn encoded_len(encoding: Encoding, binary: usize) -> usize {
    match encoding {
        Encoding::Binary => binary,
        Encoding::Text => format::text_len(binary),
    }
}

/// What to do with one item, and its output length: from its header alone.
#[inline]
fn plan(
    op: &Op,
    sealer: &Sealer,
    encoding: Encoding,
    raw: &[u8],
    input: &Input<'_>,
) -> (Status, Work, usize) {
    const FAILED: (Status, Work, usize) = (Status::Failed, Work::None, 0);
    let sealed_len = |len: usize| sealer.sealed_len(len).map(|b| encoded_len(encoding, b));
    let msg = match input {
        Input::Plain(plaintext) => {
            return match sealed_len(plaintext.len()) {
                Ok(len) => (Status::Done, Work::Seal, len),
                Err(_) => FAILED,
            }
        }
        Input::Message(msg) => msg,
    };
    let Ok(info) = sealer.inspect(msg) else {
        return FAILED;
    };
    match op {
        Op::Open | Op::Seal => (Status::Done, Work::Open, info.plaintext_len),
        // A message is current only in the batch's own encoding; in the other
        // it is re-encoded, which needs no key.
        Op::Rotate(RotateMode::Auto) if info.current && format::encoding_of(raw) == encoding => {
            (Status::Unchanged, Work::None, raw.len())
        }
        Op::Rotate(RotateMode::Auto) if info.current => {
            let binary = match format::encoding_of(raw) {
                Encoding::Binary => Some(raw.len()),
                Encoding::Text => format::binary_len(raw.len()),
            };
            match binary {
                Some(len) => (Status::Done, Work::Reencode, encoded_len(encoding, len)),
                None => FAILED,
            }
        }
        Op::Rotate(RotateMode::Auto) if info.envelope && sealer.is_envelope() => (
            Status::Done,
            Work::Rewrap,
            encoded_len(encoding, info.rewrapped_len),
        ),
        Op::Rotate(_) => match sealed_len(info.plaintext_len) {
            Ok(len) => (Status::Done, Work::Open, len),
            Err(_) => FAILED,
        },
    }
}

/// Write a binary result in `encoding` into `out`: directly for binary,
/// through a stack (or heap) buffer for text, whose binary length follows
/// from `out`'s.
fn write_encoded(
    encoding: Encoding,
    out: &mut [u8],
    write: impl FnOnce(&mut [u8]) -> Result<()>,
) -> Result<()> {
    match encoding {
        Encoding::Binary => write(out),
        Encoding::Text => {
            let binary =
                format::binary_len(out.len()).ok_or(Error::Internal("text slot length"))?;
            with_scratch(binary, |buf| {
                write(buf)?;
                format::encode_text_into(buf, out)
            })
        }
    }
}

/// Run `f` on a zeroed scratch buffer of `len` bytes, on the stack when small
/// (sized so the common short values clear only a few bytes), and wipe its
/// `len` bytes after, also if `f` unwinds: it may hold a plaintext.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    /// Wipes the buffer when dropped, also if `f` unwinds.
    struct Wipe<'b>(&'b mut [u8]);
    impl Drop for Wipe<'_> {
        fn drop(&mut self) {
            self.0.zeroize();
        }
    }
    fn run<R>(buf: &mut [u8], f: impl FnOnce(&mut [u8]) -> R) -> R {
        let guard = Wipe(buf);
        f(&mut *guard.0)
    }
    if len <= 64 {
        let mut small = [0u8; 64];
        if let Some(buf) = small.get_mut(..len) {
            return run(buf, f);
        }
    }
    if len <= 512 {
        let mut medium = [0u8; 512];
        if let Some(buf) = medium.get_mut(..len) {
            return run(buf, f);
        }
    }
    let mut large = Zeroizing::new(vec![0u8; len]);
    f(&mut large)
}

/// Write the binary message `binary` into `out` in `encoding`.
fn reencode(encoding: Encoding, binary: &[u8], out: &mut [u8]) -> Result<()> {
    match encoding {
        Encoding::Binary if out.len() == binary.len() => {
            out.copy_from_slice(binary);
            Ok(())
        }
        Encoding::Binary => Err(Error::Internal("binary slot length")),
        Encoding::Text => format::encode_text_into(binary, out),
    }
}

fn seal_encoded(
    sealer: &Sealer,
    encoding: Encoding,
    plaintext: &[u8],
    ctx: &[u8],
    nonce: Nonce<'_>,
    out: &mut [u8],
) -> Result<()> {
    write_encoded(encoding, out, |buf| {
        sealer.seal_into_with(plaintext, ctx, nonce, buf)
    })
}

/// One batch operation over a sealer, in a given output encoding.
pub struct Batch<'s> {
    pub sealer: &'s Sealer,
    pub encoding: Encoding,
    pub threads: Option<usize>,
    /// Items to pass through as nulls (Arrow validity), by batch index.
    pub nulls: Option<&'s [bool]>,
    /// Accept messages only in this encoding (a strict Box): a message in the
    /// other fails like any message that does not parse. `None` accepts both.
    pub accept: Option<Encoding>,
    /// A rotation that re-encrypts derives each new nonce from the message and its
    /// context (`Nonce::From`), so that running it again gives the same bytes.
    pub repeatable: bool,
}

impl Batch<'_> {
    fn is_null(&self, i: usize) -> bool {
        self.nulls.and_then(|n| n.get(i).copied()).unwrap_or(false)
    }

    /// The binary form of item input `raw` ([`decode`]), refusing a message in
    /// an encoding this batch does not accept.
    #[inline]
    fn decode<'a>(&self, op: &Op, raw: &'a [u8]) -> Result<Cow<'a, [u8]>> {
        match self.accept {
            Some(only) if *op != Op::Seal && format::encoding_of(raw) != only => {
                Err(Error::Decrypt)
            }
            _ => decode(op, raw),
        }
    }

    /// Plan item `i`, whose input is `raw`: its status, work and output length.
    fn plan(&self, op: Op, raw: &[u8], i: usize) -> (Status, Work, usize) {
        if self.is_null(i) {
            return (Status::Null, Work::None, 0);
        }
        let Ok(binary) = self.decode(&op, raw) else {
            return (Status::Failed, Work::None, 0);
        };
        match parse(&op, &binary) {
            Ok(input) => plan(&op, self.sealer, self.encoding, raw, &input),
            Err(_) => (Status::Failed, Work::None, 0),
        }
    }

    /// The first pass over items `range`, in parallel: each item's output
    /// length and what to do with it. Items that will fail or are null take
    /// no bytes.
    pub fn layout(&self, op: Op, items: &dyn Items, range: Range<usize>) -> Result<Layout> {
        let first = range.start;
        let n = range.len();
        let step = |k: usize| {
            let (status, work, len) = self.plan(op, items.get(first + k), first + k);
            (Step { status, work }, len)
        };
        let (mut steps, mut lens) = (Vec::new(), Vec::new());
        if n < PARALLEL_MIN_ITEMS {
            (steps, lens) = (0..n).map(step).unzip();
        } else {
            pool(self.threads)?.install(|| {
                (0..n)
                    .into_par_iter()
                    .with_min_len(256)
                    .map(step)
                    .unzip_into_vecs(&mut steps, &mut lens)
            });
        }
        Ok(Layout {
            first,
            offsets: running(lens)?,
            planned_from: first,
            steps,
        })
    }

    /// The layout a batch starts from, without a first pass over the items:
    /// each item's output length as its input's length and header alone give
    /// it (a null none). A seal's is exact; a decryption's comes from the
    /// header (`format::plaintext_len_hint`); a rotation's is the input's own
    /// length, right when it keeps every message's length, the usual case (a
    /// re-wrap under a local key, a re-encryption under the same suite and key
    /// width). [`Batch::fill`] plans each guessed item as it goes, and tells
    /// when one does not fit: the items from there on are then laid out by a
    /// first pass ([`Layout::replace_from`]).
    pub fn guess(&self, op: Op, items: &dyn Items, range: Range<usize>) -> Result<Layout> {
        let len = |i: usize| {
            if self.is_null(i) {
                return 0;
            }
            match op {
                Op::Rotate(_) => items.item_len(i),
                Op::Seal => self
                    .sealer
                    .sealed_len(items.item_len(i))
                    .map_or(0, |len| encoded_len(self.encoding, len)),
                Op::Open => format::plaintext_len_hint(items.get(i)).unwrap_or(0),
            }
        };
        // A decryption reads each header: on the pool, as the fill that follows.
        let offsets = if op == Op::Open && range.len() >= PARALLEL_MIN_ITEMS {
            let mut lens = Vec::with_capacity(range.len());
            pool(self.threads)?.install(|| {
                range
                    .clone()
                    .into_par_iter()
                    .with_min_len(1024)
                    .map(len)
                    .collect_into_vec(&mut lens)
            });
            running(lens)?
        } else {
            running(range.clone().map(len))?
        };
        Ok(Layout {
            first: range.start,
            offsets,
            planned_from: range.end,
            steps: Vec::new(),
        })
    }

    /// Process items `range` (within `layout`) into `out` in parallel, each
    /// item into its place in `layout.offsets`, shifted so that the first
    /// item of `range` starts at 0. Failed items are zeroed; the statuses are
    /// returned in order. `None` when a guessed item's output does not fit
    /// its place ([`Batch::guess`]): the range must be laid out and filled again.
    pub fn fill(
        &self,
        op: Op,
        items: &dyn Items,
        contexts: &Contexts<'_>,
        layout: &Layout,
        range: Range<usize>,
        out: &mut [u8],
    ) -> Result<Option<Vec<Status>>> {
        let outside = || Error::Invalid("batch range is outside its layout".into());
        let (a, b) = (
            range.start.checked_sub(layout.first).ok_or_else(outside)?,
            range.end.checked_sub(layout.first).ok_or_else(outside)?,
        );
        let offsets = layout.offsets.get(a..=b).ok_or_else(outside)?;
        let mut slices: Vec<&mut [u8]> = Vec::with_capacity(range.len());
        let mut rest: &mut [u8] = out;
        for w in offsets.windows(2) {
            let len = match w {
                [a, b] => b
                    .checked_sub(*a)
                    .ok_or(Error::Internal("decreasing offsets"))?,
                _ => 0,
            };
            if rest.len() < len {
                return Err(Error::Invalid("batch output buffer is too small".into()));
            }
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
            slices.push(head);
            rest = tail;
        }
        let start = range.start;
        let misfit = AtomicBool::new(false);
        let work = |memo: &mut RunMemo, k: usize, out: &mut [u8]| -> Status {
            let i = start + k;
            let raw = items.get(i);
            let status = self.fill_one(op, raw, i, layout, &misfit, contexts.get(i), out, memo);
            if status == Status::Failed {
                out.fill(0);
            }
            status
        };
        // Each run of items on one thread carries its own memo of a shared data key.
        let mut status = Vec::with_capacity(slices.len());
        if slices.len() < PARALLEL_MIN_ITEMS {
            let mut memo = RunMemo::default();
            status.extend(
                slices
                    .into_iter()
                    .enumerate()
                    .map(|(k, o)| work(&mut memo, k, o)),
            );
        } else {
            pool(self.threads)?.install(|| {
                slices
                    .into_par_iter()
                    .enumerate()
                    .with_min_len(256)
                    .map_init(RunMemo::default, |memo, (k, o)| work(memo, k, o))
                    .collect_into_vec(&mut status)
            });
        }
        if misfit.into_inner() {
            return Ok(None);
        }
        Ok(Some(status))
    }

    /// Fill the place `out` of item `i`: decode and parse its input once, plan
    /// it (a guessed place) or take its planned step, then do its work.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn fill_one(
        &self,
        op: Op,
        raw: &[u8],
        i: usize,
        layout: &Layout,
        misfit: &AtomicBool,
        ctx: &[u8],
        out: &mut [u8],
        memo: &mut RunMemo,
    ) -> Status {
        let (status, work) = if i < layout.planned_from {
            // A guessed place: plan the item here, and check that it fits.
            if misfit.load(Ordering::Relaxed) {
                return Status::Failed;
            }
            if self.is_null(i) {
                return Status::Null;
            }
            (Status::Done, None)
        } else {
            match layout.steps.get(i - layout.planned_from) {
                Some(step) => (step.status, Some(step.work)),
                None => return Status::Failed,
            }
        };
        match (status, work) {
            (Status::Failed | Status::Null, _) => return status,
            (Status::Unchanged, _) => return self.copy_unchanged(raw, out),
            _ => {}
        }
        let Ok(binary) = self.decode(&op, raw) else {
            return Status::Failed;
        };
        let Ok(input) = parse(&op, &binary) else {
            return Status::Failed;
        };
        let work = match work {
            Some(work) => work,
            None => {
                let (status, work, len) = plan(&op, self.sealer, self.encoding, raw, &input);
                if len != out.len() && matches!(status, Status::Done | Status::Unchanged) {
                    misfit.store(true, Ordering::Relaxed);
                    return Status::Failed;
                }
                match status {
                    Status::Done => work,
                    Status::Unchanged => return self.copy_unchanged(raw, out),
                    other => return other,
                }
            }
        };
        if work == Work::Reencode {
            return match reencode(self.encoding, &binary, out) {
                Ok(()) => Status::Done,
                Err(_) => Status::Failed,
            };
        }
        match self.process(&op, work, &input, &binary, ctx, out, memo) {
            Ok(()) => Status::Done,
            Err(_) => Status::Failed,
        }
    }

    /// Do the work of one item, whose input is decoded (`binary`) and parsed.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn process(
        &self,
        op: &Op,
        work: Work,
        input: &Input<'_>,
        binary: &[u8],
        ctx: &[u8],
        out: &mut [u8],
        memo: &mut RunMemo,
    ) -> Result<()> {
        let (sealer, encoding) = (self.sealer, self.encoding);
        match (op, work, input) {
            (_, Work::Seal, Input::Plain(plaintext)) => {
                seal_encoded(sealer, encoding, plaintext, ctx, Nonce::Random, out)
            }
            (Op::Open, Work::Open, Input::Message(msg)) => sealer.open_parsed(msg, ctx, out, memo),
            (_, Work::Rewrap, Input::Message(Parsed::Envelope(msg))) => {
                write_encoded(encoding, out, |buf| sealer.rewrap_into(msg, ctx, buf, memo))
            }
            (_, Work::Open, Input::Message(msg)) => with_scratch(msg.plaintext_len(), |buf| {
                sealer.open_parsed(msg, ctx, buf, memo)?;
                let nonce = if self.repeatable {
                    Nonce::From(binary)
                } else {
                    Nonce::Random
                };
                seal_encoded(sealer, encoding, buf, ctx, nonce, out)
            }),
            _ => Err(Error::Internal("an item's work does not match its input")),
        }
    }

    /// An item rotation leaves as it is: copied into its place.
    fn copy_unchanged(&self, raw: &[u8], out: &mut [u8]) -> Status {
        if out.len() != raw.len() {
            return Status::Failed;
        }
        out.copy_from_slice(raw);
        Status::Unchanged
    }

    /// Process items `range` into one buffer, reusing the allocations of
    /// `reuse` (a previous chunk's output) when given. Failed items take no bytes.
    pub fn chunk(
        &self,
        op: Op,
        items: &dyn Items,
        contexts: &Contexts<'_>,
        range: Range<usize>,
        reuse: Option<ChunkOutput>,
    ) -> Result<ChunkOutput> {
        let mut out = reuse.unwrap_or_else(ChunkOutput::empty);
        // A buffer too small is replaced, not grown: growing would free the old
        // allocation, which may hold plaintexts, without wiping it. A reused
        // buffer is not cleared first: a fill that returns statuses has
        // written every byte of every item's slice (a failed item's are
        // zeroed), and the spare capacity is wiped when the buffer is dropped.
        let sized = |data: &mut Zeroizing<Vec<u8>>, len: usize| {
            if data.capacity() < len {
                *data = Zeroizing::new(Vec::new());
                data.reserve_exact(len);
            }
            data.truncate(len);
            data.resize(len, 0);
        };
        let mut layout = self.guess(op, items, range.clone())?;
        sized(&mut out.data, layout.total());
        let mut filled = self.fill(op, items, contexts, &layout, range.clone(), &mut out.data)?;
        if filled.is_none() {
            layout = self.layout(op, items, range.clone())?;
            sized(&mut out.data, layout.total());
            filled = self.fill(op, items, contexts, &layout, range, &mut out.data)?;
        }
        out.status =
            filled.ok_or_else(|| Error::Invalid("a planned batch layout did not fit".into()))?;
        out.offsets = layout.offsets;
        if out.status.contains(&Status::Failed) {
            let used = compact(&mut out.data, &mut out.offsets, &out.status);
            out.data.truncate(used);
        }
        Ok(out)
    }

    /// Seal items `range` of a batch.
    pub fn seal(
        &self,
        items: &dyn Items,
        contexts: &Contexts<'_>,
        range: Range<usize>,
    ) -> Result<ChunkOutput> {
        self.chunk(Op::Seal, items, contexts, range, None)
    }

    /// Open items `range` of a batch of messages (binary or text).
    pub fn open(
        &self,
        items: &dyn Items,
        contexts: &Contexts<'_>,
        range: Range<usize>,
    ) -> Result<ChunkOutput> {
        self.chunk(Op::Open, items, contexts, range, None)
    }

    /// Rotate items `range` to the active key and suite.
    pub fn rotate(
        &self,
        items: &dyn Items,
        contexts: &Contexts<'_>,
        mode: RotateMode,
        range: Range<usize>,
    ) -> Result<ChunkOutput> {
        self.chunk(Op::Rotate(mode), items, contexts, range, None)
    }
}

/// A batch whose output is one buffer (an Arrow column): laid out first (or,
/// for a rotation, guessed from the inputs' lengths), then filled one chunk
/// at a time by [`ColumnJob::step`], so that a caller can release its lock
/// around each step and check for interruption between them. When a guessed
/// item does not fit, the rest is laid out by a first pass and the buffer
/// resized, keeping what is filled.
pub struct ColumnJob<'a> {
    batch: &'a Batch<'a>,
    op: Op,
    items: &'a dyn Items,
    contexts: &'a Contexts<'a>,
    /// Stop at the first failed item (its index is then `failed_at`).
    raise: bool,
    /// The most output bytes the caller can address.
    max_total: usize,
    layout: Layout,
    data: Zeroizing<Vec<u8>>,
    status: Vec<Status>,
    failed_at: Option<usize>,
}

impl<'a> ColumnJob<'a> {
    pub fn new(
        batch: &'a Batch<'a>,
        op: Op,
        items: &'a dyn Items,
        contexts: &'a Contexts<'a>,
        raise: bool,
        max_total: usize,
    ) -> Result<Self> {
        let n = items.len();
        let layout = batch.guess(op, items, 0..n)?;
        let total = Self::checked(layout.total(), max_total)?;
        Ok(Self {
            batch,
            op,
            items,
            contexts,
            raise,
            max_total,
            layout,
            // Zeroed by the workers; wiped when dropped (it may hold plaintexts).
            data: Zeroizing::new(zeroed(total, batch.threads)?),
            status: Vec::with_capacity(n),
            failed_at: None,
        })
    }

    fn checked(total: usize, max_total: usize) -> Result<usize> {
        if total > max_total {
            return Err(Error::Invalid(
                "output exceeds 2 GiB: use a large_binary array".into(),
            ));
        }
        Ok(total)
    }

    /// Fill the next chunk; false when the job is over (every item done, or
    /// with `raise`, an item failed).
    pub fn step(&mut self) -> Result<bool> {
        let n = self.items.len();
        let start = self.status.len();
        if start >= n || self.failed_at.is_some() {
            return Ok(false);
        }
        let inconsistent = || Error::Internal("batch offsets are inconsistent");
        let range = self
            .layout
            .offsets
            .get(start..)
            .map(first_chunk)
            .map(|r| start + r.start..start + r.end)
            .ok_or_else(inconsistent)?;
        let (a, b) = (
            self.layout.offsets.get(range.start).copied(),
            self.layout.offsets.get(range.end).copied(),
        );
        let (Some(a), Some(b)) = (a, b) else {
            return Err(inconsistent());
        };
        let region = self.data.get_mut(a..b).ok_or_else(inconsistent)?;
        let (op, items, contexts) = (self.op, self.items, self.contexts);
        let Some(part) =
            self.batch
                .fill(op, items, contexts, &self.layout, range.clone(), region)?
        else {
            // An item did not fit its guessed place: lay out the rest, and
            // fill this chunk again in a buffer of the right size.
            let rest = self.batch.layout(op, items, range.start..n)?;
            self.layout.replace_from(rest)?;
            let total = Self::checked(self.layout.total(), self.max_total)?;
            let data = std::mem::take(&mut self.data);
            self.data = resized(data, a, total, self.batch.threads)?;
            return Ok(true);
        };
        if self.raise {
            if let Some(k) = part.iter().position(|s| *s == Status::Failed) {
                self.failed_at = Some(range.start + k);
                return Ok(false);
            }
        }
        self.status.extend_from_slice(&part);
        Ok(self.status.len() < n)
    }

    /// With `raise`, the index of the item that failed.
    pub fn failed_at(&self) -> Option<usize> {
        self.failed_at
    }

    /// The output: running offsets, the data (failed items removed) and each
    /// item's status.
    pub fn finish(mut self) -> (Vec<usize>, Zeroizing<Vec<u8>>, Vec<Status>) {
        if self.status.contains(&Status::Failed) {
            let used = compact(&mut self.data, &mut self.layout.offsets, &self.status);
            self.data.truncate(used);
        }
        (self.layout.offsets, self.data, self.status)
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::core::format::Suite;
    use crate::core::keys::{Keyring, SecretKey};

    fn sealer(ids: &[u32], active: u32, suite: Suite) -> Sealer {
        let keys = ids
            .iter()
            .map(|&id| (id, SecretKey::from_slice(&[id as u8; 32]).unwrap()));
        Sealer::new(Arc::new(Keyring::new(keys, active).unwrap()), suite)
    }

    /// The chunks of a whole layout, one after the other.
    fn chunks(offsets: &[usize]) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        while start + 1 < offsets.len() {
            let r = first_chunk(&offsets[start..]);
            out.push(start + r.start..start + r.end);
            start += r.end;
        }
        out
    }

    /// Messages parsed on this thread while `f` runs.
    fn parses_in(f: impl FnOnce()) -> usize {
        let before = format::PARSES.with(|n| n.get());
        f();
        format::PARSES.with(|n| n.get()) - before
    }

    #[test]
    fn each_path_parses_a_message_once() {
        // Fewer items than PARALLEL_MIN_ITEMS run on this thread, where the
        // counter is.
        let n = PARALLEL_MIN_ITEMS - 1;
        let old = sealer(&[1, 2], 1, Suite::Aes256Gcm);
        let new = sealer(&[1, 2], 2, Suite::Aes256Gcm);
        let env_old = Sealer::envelope(Arc::clone(old.keyring()));
        let env = Sealer::envelope(Arc::clone(new.keyring()));
        let plain: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 20]).collect();
        let ctx = Contexts::One(b"c");
        // A rotation that keeps each message's length parses each once; one into
        // envelope messages (longer) finds so at its first item, then lays out
        // the rest by their headers and fills them.
        for (from, to, rotate_parses) in [
            (&old, &new, n),
            (&env_old, &env, n),
            (&env, &env, n),
            (&old, &env, 1 + 2 * n),
        ] {
            let b = Batch {
                sealer: to,
                encoding: Encoding::Binary,
                threads: Some(1),
                nulls: None,
                accept: None,
                repeatable: false,
            };
            let messages: Vec<Vec<u8>> =
                plain.iter().map(|p| from.seal(p, b"c").unwrap()).collect();
            // A rotation lays out by the inputs' lengths and parses each item as it fills.
            let mut rotated = None;
            let count = parses_in(|| {
                rotated = Some(b.rotate(&messages, &ctx, RotateMode::Auto, 0..n).unwrap())
            });
            let rotated = rotated.unwrap();
            assert!(rotated
                .status
                .iter()
                .all(|s| matches!(s, Status::Done | Status::Unchanged)));
            assert_eq!(count, rotate_parses, "rotate");
            // A decryption lays out by the plaintexts' lengths as the headers
            // give them, then parses each item once as it fills.
            let texts: Vec<&[u8]> = rotated
                .offsets
                .windows(2)
                .map(|w| &rotated.data[w[0]..w[1]])
                .collect();
            let texts: Vec<Vec<u8>> = texts
                .into_iter()
                .map(|m| format::encode_text(m).into_bytes())
                .collect();
            let count = parses_in(|| {
                let opened = b.open(&texts, &ctx, 0..n).unwrap();
                assert!(opened.status.iter().all(|s| *s == Status::Done));
            });
            assert_eq!(count, n, "open");
            // One value.
            assert_eq!(
                parses_in(|| assert_eq!(
                    to.open(&texts[0], b"c").unwrap().as_slice(),
                    &plain[0][..]
                )),
                1
            );
        }
    }

    #[test]
    fn a_column_job_fills_what_one_chunk_call_gives_and_stops_where_told() {
        let old = sealer(&[1, 2], 1, Suite::Aes256Gcm);
        let new = sealer(&[1, 2], 2, Suite::XChaCha20Poly1305);
        let n = 70_000; // two chunks, and a change of length (the suite's overhead)
        let plain: Vec<Vec<u8>> = (0..n).map(|i| (i as u32).to_le_bytes().to_vec()).collect();
        let mut messages: Vec<Vec<u8>> = plain.iter().map(|p| old.seal(p, b"").unwrap()).collect();
        messages[66_000][30] ^= 1; // fails, in the second chunk
        let b = batch(&new);
        let op = Op::Rotate(RotateMode::Auto);
        let whole = b.chunk(op, &messages, &Contexts::None, 0..n, None).unwrap();
        let mut job =
            ColumnJob::new(&b, op, &messages, &Contexts::None, false, usize::MAX).unwrap();
        let mut steps = 0;
        while job.step().unwrap() {
            steps += 1;
        }
        assert!(steps >= 2);
        let (offsets, data, status) = job.finish();
        assert_eq!(status, whole.status);
        assert_eq!(offsets, whole.offsets);
        assert_eq!(data.len(), whole.data.len());
        for (k, s) in status.iter().enumerate() {
            if *s == Status::Done {
                let m = &data[offsets[k]..offsets[k + 1]];
                assert_eq!(new.open(m, b"").unwrap().as_slice(), plain[k].as_slice());
            }
        }
        assert_eq!(status[66_000], Status::Failed);
        // With `raise`, the job stops at the first failure and names it.
        let mut job = ColumnJob::new(&b, op, &messages, &Contexts::None, true, usize::MAX).unwrap();
        while job.step().unwrap() {}
        assert_eq!(job.failed_at(), Some(66_000));
        // An output larger than the caller can address is refused before any work.
        assert!(ColumnJob::new(&b, op, &messages, &Contexts::None, false, 1000).is_err());
    }

    fn batch(s: &Sealer) -> Batch<'_> {
        Batch {
            sealer: s,
            encoding: Encoding::Binary,
            threads: Some(2),
            nulls: None,
            accept: None,
            repeatable: false,
        }
    }

    #[test]
    fn zeroed_buffers_are_all_zero_even_in_reused_memory() {
        for len in [
            0,
            1,
            4095,
            PARALLEL_ZERO_BYTES - 1,
            PARALLEL_ZERO_BYTES + 4097,
        ] {
            // Leave non-zero bytes behind for the allocator to hand out again.
            drop(vec![0xA5u8; len]);
            let out = zeroed(len, Some(2)).unwrap();
            assert_eq!(out.len(), len);
            assert!(out.iter().all(|&b| b == 0), "len {len}");
        }
    }

    #[test]
    fn batch_equals_item_by_item_and_keeps_order() {
        let s = sealer(&[1, 2], 2, Suite::Aes256Gcm);
        let values: Vec<Vec<u8>> = (0..1000u32)
            .map(|i| i.to_be_bytes().repeat(i as usize % 7))
            .collect();
        let ctxs: Vec<Vec<u8>> = (0..1000u32)
            .map(|i| format!("row/{i}").into_bytes())
            .collect();
        let contexts = Contexts::Each(&ctxs);
        let sealed = batch(&s).seal(&values, &contexts, 0..values.len()).unwrap();
        let messages: Vec<Vec<u8>> = (0..values.len()).map(|i| sealed.item(i).to_vec()).collect();
        for (i, m) in messages.iter().enumerate() {
            assert_eq!(
                s.open(m, &ctxs[i]).unwrap().as_slice(),
                values[i].as_slice()
            );
        }
        let opened = batch(&s)
            .open(&messages, &contexts, 0..messages.len())
            .unwrap();
        for (i, v) in values.iter().enumerate() {
            assert_eq!(opened.item(i), v.as_slice());
            assert_eq!(opened.status[i], Status::Done);
        }
    }

    #[test]
    fn failures_stay_per_item() {
        let s = sealer(&[1], 1, Suite::Aes256Gcm);
        let mut messages: Vec<Vec<u8>> = (0..300u32)
            .map(|i| s.seal(&i.to_le_bytes(), b"").unwrap())
            .collect();
        let bad = [0usize, 17, 150, 299];
        for &i in &bad {
            messages[i][10] ^= 1;
        }
        messages[42] = b"not a message".to_vec();
        let out = batch(&s).open(&messages, &Contexts::None, 0..300).unwrap();
        for i in 0..300 {
            let failed = bad.contains(&i) || i == 42;
            assert_eq!(out.status[i] == Status::Failed, failed, "item {i}");
            if !failed {
                assert_eq!(out.item(i), (i as u32).to_le_bytes());
            } else {
                assert!(out.item(i).is_empty());
            }
        }
    }

    #[test]
    fn a_reused_chunk_buffer_leaves_no_old_bytes() {
        // A first chunk fills the buffer with long outputs; the second, reusing it,
        // mixes re-encrypted, unchanged and failed items in text encoding.
        let old = sealer(&[1], 1, Suite::Aes256Gcm);
        let new = sealer(&[1, 2], 2, Suite::Aes256Gcm);
        let text = |s: &Sealer, v: &[u8]| format::encode_text(&s.seal(v, b"").unwrap());
        let long: Vec<String> = (0..100).map(|_| text(&old, &[0xAA; 500])).collect();
        let b = Batch {
            encoding: Encoding::Text,
            ..batch(&new)
        };
        let op = Op::Rotate(RotateMode::Auto);
        let first = b.chunk(op, &long, &Contexts::None, 0..100, None).unwrap();
        let mut mixed: Vec<String> = (0..100u32)
            .map(|i| text(if i % 3 == 0 { &new } else { &old }, &i.to_le_bytes()))
            .collect();
        mixed[5] = "not a message".into();
        let other = if mixed[50].as_bytes()[20] == b'A' {
            "B"
        } else {
            "A"
        };
        mixed[50].replace_range(20..21, other);
        let second = b
            .chunk(op, &mixed, &Contexts::None, 0..100, Some(first))
            .unwrap();
        assert!(
            second.data.len() < 100 * 500,
            "the reused buffer was cut to this chunk's outputs"
        );
        for (i, m) in mixed.iter().enumerate() {
            let status = second.status[i];
            match i {
                5 | 50 => assert_eq!(status, Status::Failed),
                _ if i % 3 == 0 => {
                    assert_eq!(status, Status::Unchanged);
                    assert_eq!(second.item(i), m.as_bytes());
                }
                _ => {
                    assert_eq!(status, Status::Done);
                    let binary = format::decode(second.item(i)).unwrap();
                    let plain = new.open(&binary, b"").unwrap();
                    assert_eq!(plain.as_slice(), (i as u32).to_le_bytes());
                }
            }
        }
        assert_eq!(second.data.len(), second.offsets[100]);
    }

    #[test]
    fn rotation_modes() {
        let old = sealer(&[1], 1, Suite::Aes256Gcm);
        let new = sealer(&[1, 2], 2, Suite::Aes256Gcm);
        let mut messages: Vec<Vec<u8>> = (0..200u32)
            .map(|i| old.seal(&i.to_le_bytes(), b"c").unwrap())
            .collect();
        messages.extend((200..300u32).map(|i| new.seal(&i.to_le_bytes(), b"c").unwrap()));
        let ctx = Contexts::One(b"c");
        let auto = batch(&new)
            .rotate(&messages, &ctx, RotateMode::Auto, 0..300)
            .unwrap();
        for i in 0..300 {
            let m = auto.item(i);
            assert!(!new.needs_rotation(m).unwrap());
            assert_eq!(
                new.open(m, b"c").unwrap().as_slice(),
                (i as u32).to_le_bytes()
            );
            assert_eq!(auto.status[i] == Status::Unchanged, i >= 200);
            assert_eq!(m == messages[i].as_slice(), i >= 200);
        }
        let forced = batch(&new)
            .rotate(&messages, &ctx, RotateMode::Reencrypt, 0..300)
            .unwrap();
        assert!((0..300)
            .all(|i| forced.status[i] == Status::Done && forced.item(i) != messages[i].as_slice()));
        // The wrong context fails every item, and leaves no bytes behind.
        let wrong = batch(&new)
            .rotate(
                &messages,
                &Contexts::One(b"x"),
                RotateMode::Reencrypt,
                0..300,
            )
            .unwrap();
        assert!(wrong.status.iter().all(|s| *s == Status::Failed));
        assert!(wrong.data.iter().all(|b| *b == 0));
    }

    /// Fill `range` of `layout` into `out` (the whole layout's buffer).
    fn fill_range(
        b: &Batch<'_>,
        op: Op,
        items: &dyn Items,
        layout: &Layout,
        range: Range<usize>,
        out: &mut [u8],
    ) -> Option<Vec<Status>> {
        let region = &mut out[layout.offsets[range.start]..layout.offsets[range.end]];
        b.fill(op, items, &Contexts::One(b"c"), layout, range, region)
            .unwrap()
    }

    /// Items `0..n` through a first pass and one fill, failed items removed.
    fn planned(b: &Batch<'_>, op: Op, items: &dyn Items) -> (Vec<u8>, Vec<usize>, Vec<Status>) {
        let n = items.len();
        let mut layout = b.layout(op, items, 0..n).unwrap();
        let mut data = vec![0u8; layout.total()];
        let status = fill_range(b, op, items, &layout, 0..n, &mut data).unwrap();
        let used = compact(&mut data, &mut layout.offsets, &status);
        data.truncate(used);
        (data, layout.offsets, status)
    }

    #[test]
    fn a_guessed_layout_gives_the_planned_result_or_reports_a_misfit() {
        // Deterministic messages, so the two ways can be compared byte for byte.
        let old = sealer(&[1], 1, Suite::Aes256Siv);
        let new = sealer(&[1, 2], 2, Suite::Aes256Siv);
        let mut items: Vec<Vec<u8>> = (0..300u32)
            .map(|i| match i % 10 {
                3 => b"junk".to_vec(),
                7 => new.seal(&i.to_le_bytes(), b"c").unwrap(),
                _ => old
                    .seal(&i.to_be_bytes().repeat(i as usize % 4), b"c")
                    .unwrap(),
            })
            .collect();
        let nulls: Vec<bool> = (0..300).map(|i| i % 10 == 5).collect();
        let b = Batch {
            nulls: Some(&nulls),
            ..batch(&new)
        };
        let op = Op::Rotate(RotateMode::Auto);
        let (want, want_offsets, want_status) = planned(&b, op, &items);

        // Every message keeps its length: the guess holds, and after the
        // failed items' bytes are removed the output is the planned one.
        let mut layout = b
            .guess(Op::Rotate(RotateMode::Auto), &items, 0..300)
            .unwrap();
        let mut data = vec![0u8; layout.total()];
        let status = fill_range(&b, op, &items, &layout, 0..300, &mut data).unwrap();
        assert_eq!(status, want_status);
        let used = compact(&mut data, &mut layout.offsets, &status);
        assert_eq!(&data[..used], &want[..]);
        assert_eq!(layout.offsets, want_offsets);

        // A message of another suite changes length when rotated: the range
        // it is in reports a misfit; laid out again from there, the result is
        // again the planned one.
        let xold = sealer(&[1], 1, Suite::XChaCha20Poly1305);
        items[251] = xold.seal(b"moved", b"c").unwrap();
        let (want, want_offsets, want_status) = planned(&b, op, &items);
        let mut layout = b
            .guess(Op::Rotate(RotateMode::Auto), &items, 0..300)
            .unwrap();
        let mut data = vec![0u8; layout.total()];
        let mut status = fill_range(&b, op, &items, &layout, 0..200, &mut data).unwrap();
        assert!(fill_range(&b, op, &items, &layout, 200..300, &mut data).is_none());
        let kept = layout.offsets[200];
        layout
            .replace_from(b.layout(op, &items, 200..300).unwrap())
            .unwrap();
        assert_eq!(layout.offsets[200], kept);
        let mut data = resized(Zeroizing::new(data), kept, layout.total(), None).unwrap();
        status.extend(fill_range(&b, op, &items, &layout, 200..300, &mut data).unwrap());
        assert_eq!(status, want_status);
        assert_eq!(status[251], Status::Done);
        let used = compact(&mut data, &mut layout.offsets, &status);
        assert_eq!(&data[..used], &want[..]);
        assert_eq!(layout.offsets, want_offsets);
        // A chunk does the same on its own, in a reused buffer of other bytes.
        let reuse = ChunkOutput {
            offsets: Vec::new(),
            data: Zeroizing::new(vec![0xAA; 2 * want.len()]),
            status: Vec::new(),
        };
        let chunk = b
            .chunk(op, &items, &Contexts::One(b"c"), 0..300, Some(reuse))
            .unwrap();
        assert_eq!(
            (&chunk.data[..], &chunk.offsets, &chunk.status),
            (&want[..], &want_offsets, &want_status)
        );
        // Layouts that do not join are refused.
        let mut guess = b
            .guess(Op::Rotate(RotateMode::Auto), &items, 0..300)
            .unwrap();
        assert!(guess
            .replace_from(b.layout(op, &items, 10..200).unwrap())
            .is_err());
    }

    #[test]
    fn empty_batches_and_chunking() {
        let s = sealer(&[1], 1, Suite::Aes256Siv);
        let none: Vec<Vec<u8>> = Vec::new();
        let out = batch(&s).seal(&none, &Contexts::None, 0..0).unwrap();
        assert!(out.status.is_empty() && out.data.is_empty());
        assert!(chunks(&[0]).is_empty());
        // Small items: CHUNK_ITEMS per chunk.
        let many: Vec<usize> = (0..=CHUNK_ITEMS * 2 + 5).collect();
        let ranges = chunks(&many);
        assert_eq!(ranges.len(), 3);
        assert_eq!(ranges[0], 0..CHUNK_ITEMS);
        assert_eq!(ranges[2], CHUNK_ITEMS * 2..CHUNK_ITEMS * 2 + 5);
        // Large items: a chunk ends at the item that reaches CHUNK_BYTES.
        let big: Vec<usize> = (0..=7).map(|i| i * (40 << 20)).collect();
        assert_eq!(chunks(&big), vec![0..2, 2..4, 4..6, 6..7]);
        // One item larger than CHUNK_BYTES is a chunk of its own; empty items are free.
        let mixed = [0, 0, 100 << 20, 100 << 20, (100 << 20) + 1];
        assert_eq!(chunks(&mixed), vec![0..2, 2..4]);
    }

    #[test]
    fn compact_removes_failed_items_in_place() {
        let mut data = b"aa\0\0bbb\0cc".to_vec();
        let mut offsets = vec![0, 2, 4, 7, 8, 10];
        let status = [
            Status::Done,
            Status::Failed,
            Status::Done,
            Status::Failed,
            Status::Unchanged,
        ];
        let used = compact(&mut data, &mut offsets, &status);
        assert_eq!(&data[..used], b"aabbbcc");
        assert_eq!(offsets, vec![0, 2, 2, 5, 5, 7]);
        assert!(data[used..].iter().all(|b| *b == 0));
        // Nothing failed: nothing moves.
        let mut same = b"xyz".to_vec();
        let mut offs = vec![0, 1, 3];
        assert_eq!(
            compact(&mut same, &mut offs, &[Status::Done, Status::Null]),
            3
        );
        assert_eq!((same.as_slice(), offs), (&b"xyz"[..], vec![0, 1, 3]));
    }

    #[test]
    fn offset_columns_are_checked() {
        assert!(OffsetColumn::new(&[0i32, 3, 2], b"abc").is_err());
        assert!(OffsetColumn::new(&[0i32, 4], b"abc").is_err());
        assert!(OffsetColumn::new(&[-1i32, 1], b"abc").is_err());
        let col = OffsetColumn::new(&[0i64, 1, 3], b"abc").unwrap();
        assert_eq!(
            (col.len(), col.get(0), col.get(1), col.get(2)),
            (2, &b"a"[..], &b"bc"[..], &b""[..])
        );
    }
}
