//! The cache's Lua scripts. Each touches only the bookkeeping keys, which
//! all share one hash tag (`{<prefix>cache}`), so that each runs atomically
//! on one server even on a Redis Cluster:
//!
//! - `clock`: a hash with `seq` (a counter every write moves), `epoch`
//!   (a random value, new whenever Redis lost its data) and, with replicas,
//!   `lsn` (the primary's WAL position after the last acknowledged write);
//! - `versions`: a hash, namespace -> the `seq` of its last write;
//! - `writers:<namespace>`: the writers of that namespace in flight, a
//!   sorted set of write ids, each scored by the time (Redis's clock, in ms)
//!   its marker lapses. A marker is one write's own: taking it away twice,
//!   or taking away one never set, touches no other writer's; and one never
//!   taken away (its writer died) lapses at its own time, however many
//!   writers come after it.

/// Redis's clock in ms, as a script's local `now`: every node reads the
/// same clock, whatever theirs say.
const NOW_MS: &str = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

/// The versions of every namespace written (`ARGV[first..]`) set to `seq`,
/// in one command (a command per [`CHUNK`] namespaces: two values each).
fn set_versions(first: usize) -> String {
    format!(
        "local fields = {{}} for i = {first}, #ARGV do fields[#fields + 1] = ARGV[i] fields[#fields + 1] = seq \
         if #fields >= {fields} or i == #ARGV then redis.call('HSET', KEYS[2], unpack(fields)) fields = {{}} end end",
        fields = 2 * CHUNK
    )
}

/// How many namespaces a script passes to one command: Lua's `unpack`
/// gives at most 8,000 values (`LUAI_MAXCSTACK`).
const CHUNK: usize = 1000;

use std::sync::LazyLock;

/// Before a write's transaction: a new `seq` for every namespace written,
/// and this write's marker among each one's writers in flight, lapsing
/// after the marker's life (markers already lapsed go). Answers whether
/// the write must record its WAL position wherever it runs (1: the clock
/// holds an `lsn` or a `floor`, so some node reads replicas), and the
/// epoch and `seq` it began at (for [`FINISH_WRITE`]).
/// KEYS: clock, versions, writers (n). ARGV: marker life in ms, a fresh
/// epoch, the write's id, namespaces (n).
pub static BEGIN_WRITE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        r"
        {NOW_MS}
        redis.call('HSETNX', KEYS[1], 'epoch', ARGV[2])
        local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
        {set_versions}
        for i = 4, #ARGV do
            local writers = KEYS[i - 1]
            redis.call('ZREMRANGEBYSCORE', writers, '-inf', now)
            redis.call('ZADD', writers, now + tonumber(ARGV[1]), ARGV[3])
            -- The set lives as long as its longest marker: a short write
            -- after a long one (an import's) must not cut the long one's.
            if redis.call('PEXPIRE', writers, ARGV[1], 'NX') == 0 then
                redis.call('PEXPIRE', writers, ARGV[1], 'GT')
            end
        end
        local clock = redis.call('HMGET', KEYS[1], 'lsn', 'floor', 'epoch')
        local records = 0
        if clock[1] or clock[2] then records = 1 end
        return {{records, clock[3], seq}}
        ",
        set_versions = set_versions(4),
    ))
});

/// What [`FINISH_WRITE`] is told of a write that changed nothing.
pub const UNCHANGED: &str = "-";

/// After the commit (or rollback): a new `seq` again, this write's marker
/// taken away (run twice, or after a begin that never ran, it takes away
/// nothing else);
/// and, with replicas, the primary's WAL position after the commit as the
/// clock's `lsn` (it only moves forward). A write without a position while
/// the clock holds one (it began before any node recorded one, or the
/// primary could not say after its commit) cannot say how far a replica
/// must have come: `lsn` goes (kept as the `floor`) and the finish is noted
/// as `unrecorded`, so replicas are trusted again only from a position
/// read by a write begun after it (below). (Until session 29 `lsn` became
/// [`Lsn::UNKNOWN`](crate::replicas::Lsn::UNKNOWN), for good; a clock an
/// older node left so still reads that way.)
/// A write that changed nothing ([`UNCHANGED`]) leaves `lsn` as it is.
///
/// Where the clock holds no `lsn` (no node recorded one yet, or Redis lost
/// its data), a position makes one only if it covers every write
/// acknowledged so far: its write began in this epoch (a position read
/// before Redis lost its data may be older than a write acknowledged then),
/// and no write that recorded no position (`unrecorded`: the `seq` of the
/// last one's finish) finished since it began (its commit may lie past
/// this position). Else the position is kept as the clock's `floor`, which
/// the `lsn` made later starts from; and a write without a position notes
/// its finish as `unrecorded`.
///
/// When `versions` has grown past its bound (a field for every product,
/// cart and order list ever written; nothing else ever removes one), the
/// epoch goes with it: every entry is retired at once, as when Redis lost
/// its data, and the record starts anew (writes in flight keep their
/// markers and set their versions again when they finish). `lsn`
/// stays: it only ever grows, and a finish retried late could otherwise set
/// it below an acknowledged write's position.
/// Every step is the same when run twice, so a finish may be sent again.
/// KEYS: clock, versions, writers (n). ARGV: WAL position, '' or
/// [`UNCHANGED`]; the most versions kept; the write's id; the epoch and
/// `seq` its begin answered ('' and 0 when unknown); namespaces (n).
pub static FINISH_WRITE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        r"
        local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
        if ARGV[1] == '{unchanged}' then
            -- changed nothing: where writes got to is as it was
        elseif ARGV[1] ~= '' then
            local position = tonumber(ARGV[1])
            local known = redis.call('HGET', KEYS[1], 'lsn')
            if known then
                if position > tonumber(known) then redis.call('HSET', KEYS[1], 'lsn', ARGV[1]) end
            else
                local floor = redis.call('HGET', KEYS[1], 'floor')
                if not floor or position > tonumber(floor) then
                    floor = ARGV[1]
                    redis.call('HSET', KEYS[1], 'floor', floor)
                end
                local unrecorded = tonumber(redis.call('HGET', KEYS[1], 'unrecorded') or '0')
                if ARGV[4] ~= '' and redis.call('HGET', KEYS[1], 'epoch') == ARGV[4]
                    and unrecorded < tonumber(ARGV[5]) then
                    redis.call('HSET', KEYS[1], 'lsn', floor)
                end
            end
        else
            -- No position: nobody knows how far a replica must have come.
            -- Replica reads stop (no `lsn`) until a write begun after this
            -- finish makes it anew from its own position, which is past
            -- this commit; what `lsn` said stays as the floor (a real
            -- position, so nodes go on recording theirs).
            local known = redis.call('HGET', KEYS[1], 'lsn')
            if known then
                local floor = redis.call('HGET', KEYS[1], 'floor')
                if tonumber(known) < {unknown} and (not floor or tonumber(known) > tonumber(floor)) then
                    redis.call('HSET', KEYS[1], 'floor', known)
                end
                redis.call('HDEL', KEYS[1], 'lsn')
            end
            redis.call('HSET', KEYS[1], 'unrecorded', seq)
        end
        {set_versions}
        for i = 6, #ARGV do
            redis.call('ZREM', KEYS[i - 3], ARGV[3])
        end
        if redis.call('HLEN', KEYS[2]) > tonumber(ARGV[2]) then
            redis.call('HDEL', KEYS[1], 'epoch')
            -- Freed in the background: some 25 MB at the default bound,
            -- which a DEL would free while Redis answers no one.
            redis.call('UNLINK', KEYS[2])
        end
        return seq
        ",
        unknown = crate::replicas::Lsn::UNKNOWN.0,
        unchanged = UNCHANGED,
        set_versions = set_versions(6),
    ))
});

/// May a document loaded after the lookup that saw (`epoch`, `seq`) be
/// stored? Only if Redis kept its data since (same epoch), no namespace it
/// shows was written since (each version at most `seq`), and no writer of
/// one is in flight (holds a marker not yet lapsed). Answers the epoch to store it under, or false.
///
/// On a single server the entry's key is passed too, and the script stores
/// the entry itself when it may (one round trip for the check and the
/// store); on a cluster the entry lives in another slot, and the caller
/// stores it after.
///
/// A lookup names the epoch it saw, or set when there was none (see
/// `Cache::lookup`). A lookup that names none (`''`: a node of a release
/// before session 25, during a rolling deploy) may store only if no write
/// happened since: every write sets the epoch first, so the epoch being
/// still unset (and set here) says so.
/// KEYS: clock, versions, writers (n), and to store: the entry's key.
/// ARGV: epoch or '', seq, a fresh epoch, n, namespaces (n), and to store:
/// the entry after its clock (`|<shown>|<etag>|<body>`), its TTL in ms,
/// its hash field or ''.
pub static MAY_STORE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        r"
        local epoch = redis.call('HGET', KEYS[1], 'epoch')
        local fresh = false
        if not epoch then
            fresh = redis.call('HSETNX', KEYS[1], 'epoch', ARGV[3]) == 1
            epoch = redis.call('HGET', KEYS[1], 'epoch')
        end
        if ARGV[1] == '' then
            if not fresh then return false end
        elseif epoch ~= ARGV[1] then
            return false
        end
        local seen = tonumber(ARGV[2])
        local n = tonumber(ARGV[4])
        -- In chunks: Lua's `unpack` gives at most 8,000 values, and a page
        -- of categories shows up to 10,000 products.
        local in_flight = false
        for from = 1, n, {CHUNK} do
            local to = math.min(from + {CHUNK} - 1, n)
            local versions = redis.call('HMGET', KEYS[2], unpack(ARGV, 4 + from, 4 + to))
            for i = 1, #versions do
                if tonumber(versions[i] or '0') > seen then return false end
            end
            -- A set with no marker left is gone (ZREM of its last member):
            -- Redis's clock is read only when some writer may be in flight.
            if not in_flight then
                in_flight = redis.call('EXISTS', unpack(KEYS, 2 + from, 2 + to)) > 0
            end
        end
        if in_flight then
            {NOW_MS}
            for i = 1, n do
                if redis.call('ZCOUNT', KEYS[2 + i], '(' .. now, '+inf') > 0 then return false end
            end
        end
        if #ARGV > 4 + n then
            local entry = KEYS[3 + n]
            local value = epoch .. ':' .. ARGV[2] .. ARGV[5 + n]
            if ARGV[7 + n] == '' then
                redis.call('SET', entry, value, 'PX', ARGV[6 + n])
            else
                redis.call('HSET', entry, ARGV[7 + n], value)
                redis.call('PEXPIRE', entry, ARGV[6 + n])
            end
        end
        return epoch
        ",
    ))
});
