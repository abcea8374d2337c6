"""Presence shared by every node, in Redis (`PresenceStore` of chat.presence).

Keys, under the deployment's prefix:
- `presence:nodes`: a sorted set, node id -> the time (ms, Redis clock) its entries expire;
- `presence:node:<id>`: a set of `"<room> <user>"`, where this node has connections;
- `presence:room:<room>`: a hash, user -> on how many nodes (absent: offline).

Every call is one script, atomic, and renews the node's expiry. A node killed with
`kill -9` stops renewing; the next `sweep` of any node (each does it every heartbeat)
removes its entries once expired and returns the users that went offline with it, for
that node to announce. A node whose entries were lost (Redis restarted empty, or it
stalled past its TTL and was swept) learns it from the next call (its expiry was gone)
and `heartbeat` returns False, so it refills them with `replace`.

Room and user names never contain a space (see chat.domain), hence the member format.
All keys share the prefix; the scripts touch keys they derive, so this runs on one Redis
server (or a cluster only with the prefix as a hash tag, e.g. `{confab}:`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from confab.adapters.redis_common import FAILURES, unavailable
from confab.adapters.state_redis import RedisState

Pair = tuple[str, str]  # (user, room)

# KEYS[1] nodes, KEYS[2] this node's set; ARGV[1] node id, ARGV[2] TTL (ms),
# ARGV[3] the room hash prefix. Leaves `existed` (was this node's expiry there).
_RENEW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local existed = redis.call('ZSCORE', KEYS[1], ARGV[1]) and 1 or 0
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local rooms = ARGV[3]
local function enter(member)
  if redis.call('SADD', KEYS[2], member) == 0 then return 0 end
  local space = string.find(member, ' ', 1, true)
  local room, user = string.sub(member, 1, space - 1), string.sub(member, space + 1)
  if redis.call('HINCRBY', rooms .. room, user, 1) == 1 then return 1 end
  return 0
end
local function leave(member)
  if redis.call('SREM', KEYS[2], member) == 0 then return 0 end
  local space = string.find(member, ' ', 1, true)
  local room, user = string.sub(member, 1, space - 1), string.sub(member, space + 1)
  if redis.call('HINCRBY', rooms .. room, user, -1) <= 0 then
    redis.call('HDEL', rooms .. room, user)
    return 1
  end
  return 0
end
"""

# ARGV[4] "1" if this node registered before, ARGV[5] "1" if it knows its entries were
# lost; ARGV[6..]: "1"/"0" then a member, per change. Returns {existed, changed...}.
# While entries may have been lost, leaving a pair this node no longer holds counts as
# a change when no node holds it: better an extra "offline" than a user stuck online.
_UPDATE = (
    _RENEW
    + """
local unsure = (existed == 0 and ARGV[4] == '1') or ARGV[5] == '1'
local out = {existed}
for i = 6, #ARGV, 2 do
  local member = ARGV[i + 1]
  if ARGV[i] == '1' then
    out[#out + 1] = enter(member)
  elseif leave(member) == 1 then
    out[#out + 1] = 1
  elseif unsure and redis.call('SISMEMBER', KEYS[2], member) == 0 then
    local space = string.find(member, ' ', 1, true)
    local room, user = string.sub(member, 1, space - 1), string.sub(member, space + 1)
    out[#out + 1] = 1 - redis.call('HEXISTS', rooms .. room, user)
  else
    out[#out + 1] = 0
  end
end
return out
"""
)

# ARGV[4..]: the members this node should have. Returns {existed, {came}, {went}}.
_REPLACE = (
    _RENEW
    + """
local wanted = {}
for i = 4, #ARGV do wanted[ARGV[i]] = true end
local went, came = {}, {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if not wanted[member] and leave(member) == 1 then went[#went + 1] = member end
end
for i = 4, #ARGV do
  if enter(ARGV[i]) == 1 then came[#came + 1] = ARGV[i] end
end
return {existed, came, went}
"""
)

_HEARTBEAT = _RENEW + "\nreturn existed\n"

# KEYS[1] nodes; ARGV[1] room hash prefix, ARGV[2] node set prefix, ARGV[3] max nodes,
# ARGV[4] a node id to drop now (this node closing) or ''. Returns the members that
# went offline.
_DROP = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local nodes
if ARGV[4] ~= '' then
  nodes = {ARGV[4]}
else
  nodes = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
end
local went = {}
for _, node in ipairs(nodes) do
  local set = ARGV[2] .. node
  for _, member in ipairs(redis.call('SMEMBERS', set)) do
    local space = string.find(member, ' ', 1, true)
    local room, user = string.sub(member, 1, space - 1), string.sub(member, space + 1)
    if redis.call('HINCRBY', ARGV[1] .. room, user, -1) <= 0 then
      redis.call('HDEL', ARGV[1] .. room, user)
      went[#went + 1] = member
    end
  end
  redis.call('DEL', set)
  redis.call('ZREM', KEYS[1], node)
end
return went
"""


def _member(user: str, room: str) -> str:
    return f"{room} {user}"


def _pair(member: bytes) -> Pair:
    room, _, user = member.decode().partition(" ")
    return user, room


class RedisPresenceStore:
    """`PresenceStore` in Redis for one node (see the module docstring)."""

    def __init__(
        self,
        state: RedisState,
        *,
        heartbeat: float = 5.0,
        ttl: float | None = None,
        node_id: str | None = None,
        sweep_batch: int = 16,
    ) -> None:
        self.node_id = node_id or uuid.uuid4().hex[:16]
        self._client = state.client
        self._turns = state.turns
        self._interval = heartbeat
        self._ttl_ms = round((ttl if ttl is not None else heartbeat * 3) * 1000)
        self._nodes = state.key("presence", "nodes")
        self._node_set_prefix = state.key("presence", "node", "")
        self._mine = self._node_set_prefix + self.node_id
        self._rooms = state.key("presence", "room", "")
        self._sweep_batch = sweep_batch
        client = state.client
        self._update = client.register_script(_UPDATE)
        self._replace = client.register_script(_REPLACE)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._drop = client.register_script(_DROP)
        self._registered = False  # a call succeeded: our expiry should be there
        self._lost = False  # ... and once was not: our entries were lost (until refilled)

    @property
    def heartbeat_interval(self) -> float | None:
        """Seconds between heartbeats (the TTL is three of them by default)."""
        return self._interval

    def _renewal(self) -> tuple[list[str], list[Any]]:
        return [self._nodes, self._mine], [self.node_id, self._ttl_ms, self._rooms]

    def _saw(self, existed: object) -> None:
        if self._registered and not int(existed):  # type: ignore[call-overload]
            self._lost = True
        self._registered = True

    async def _call(self, script: Any, keys: list[str], args: list[Any], what: str) -> Any:
        try:
            async with self._turns:
                return await script(keys=keys, args=args)
        except FAILURES as error:
            raise unavailable(error, what) from None

    async def update(self, changes: Sequence[tuple[str, str, bool]]) -> list[bool]:
        """See `PresenceStore.update`."""
        keys, args = self._renewal()
        args += ["1" if self._registered else "0", "1" if self._lost else "0"]
        for user, room, present in changes:
            args += ["1" if present else "0", _member(user, room)]
        reply = await self._call(self._update, keys, args, "presence update")
        self._saw(reply[0])
        return [bool(changed) for changed in reply[1:]]

    async def replace(self, present: Collection[Pair]) -> tuple[list[Pair], list[Pair]]:
        """See `PresenceStore.replace`."""
        keys, args = self._renewal()
        args += [_member(user, room) for user, room in present]
        _, came, went = await self._call(self._replace, keys, args, "presence refill")
        self._registered, self._lost = True, False
        return [_pair(m) for m in came], [_pair(m) for m in went]

    async def online(self, room: str, users: Sequence[str]) -> set[str]:
        """See `PresenceStore.online`."""
        if not users:
            return set()
        try:
            async with self._turns:
                counts = await self._client.hmget(self._rooms + room, list(users))
        except FAILURES as error:
            raise unavailable(error, "presence read") from None
        return {user for user, count in zip(users, counts, strict=True) if count}

    async def heartbeat(self) -> bool:
        """See `PresenceStore.heartbeat`."""
        keys, args = self._renewal()
        self._saw(await self._call(self._heartbeat, keys, args, "presence heartbeat"))
        return not self._lost  # until `replace` refills them

    async def sweep(self) -> list[Pair]:
        """See `PresenceStore.sweep`."""
        return await self._drop_nodes("")

    async def close(self) -> list[Pair]:
        """See `PresenceStore.close`."""
        went = await self._drop_nodes(self.node_id)
        self._registered = False
        return went

    async def _drop_nodes(self, node: str) -> list[Pair]:
        args = [self._rooms, self._node_set_prefix, self._sweep_batch, node]
        went = await self._call(self._drop, [self._nodes], args, "presence sweep")
        return [_pair(m) for m in went]
