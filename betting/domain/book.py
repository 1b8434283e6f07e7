"""One race's order book: its state, the money on each runner, and its prices.

A book changes only by the events and clock readings it is given, so the same events at the
same times always give the same book. `apply(event)` takes either kind of event: a command
goes to `command`, a bet to `submit`, the one entry point for bets (in play it holds the bet
for the bet delay; `release_due` decides held bets later). `place` decides a bet at once,
whatever the delay: it is what `submit` and `release_due` call, and what a caller that
measures decisions alone (tests, the bench) calls.

Prices are updated incrementally: a bet touches its runner's money and the pool, never the
list of past bets. A refused command raises a `DomainError` before any state is touched.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import orjson

from betting.domain import in_play, pricing, race_model, risk
from betting.domain.deductions import Withdrawal
from betting.domain.errors import IllegalTransition, InvalidValue, invariant
from betting.domain.events import (
    BookEvent,
    CloseRace,
    CreateRace,
    OpenRace,
    RaceCommand,
    ResultRace,
    ResumeRace,
    SettleRace,
    StartRace,
    SuspendRace,
    UpdateStrengths,
    VoidRace,
    WithdrawRunner,
)
from betting.domain.model import (
    DEFAULT_STRENGTH,
    Bet,
    OddsSnapshot,
    Outcome,
    RaceState,
    RejectReason,
    RunnerPrice,
)
from betting.domain.money import LADDER, ODDS_SCALE, Odds, payout_minor
from betting.domain.serial import (
    bet_to_list,
    check_header,
    outcome_to_list,
    race_to_dict,
)

S = RaceState
_BEFORE_OFF = frozenset({S.SCHEDULED, S.OPEN, S.SUSPENDED})
_TRANSITIONS: dict[type, tuple[frozenset[RaceState], RaceState | None]] = {
    OpenRace: (frozenset({S.SCHEDULED}), S.OPEN),
    StartRace: (frozenset({S.OPEN, S.SUSPENDED}), None),
    SuspendRace: (frozenset({S.OPEN}), S.SUSPENDED),
    ResumeRace: (frozenset({S.SUSPENDED}), S.OPEN),
    CloseRace: (frozenset({S.OPEN, S.SUSPENDED}), S.CLOSED),
    ResultRace: (frozenset({S.CLOSED}), S.RESULTED),
    SettleRace: (frozenset({S.RESULTED}), S.SETTLED),
    VoidRace: (frozenset(set(S) - {S.SETTLED, S.VOID}), S.VOID),
    WithdrawRunner: (_BEFORE_OFF, None),
    UpdateStrengths: (_BEFORE_OFF, None),
}
SNAPSHOT_SCHEMA = 1
# A bet is identified by its bettor and the bettor's bet id: the id is the client's
# idempotency key, so it belongs to that user (another user's bet under the same id is
# another bet).
BetKey = tuple[str, str]  # (user id, bet id)
REQUEST_IDS_MAX = 1_000  # recent admin request ids remembered per race, for idempotency


class Book:
    def __init__(self, race: CreateRace, strengths: list[int] | None = None) -> None:
        """A scheduled book; its prior strengths are the chances the ratings give
        (`race_model.prior_strengths`) unless `strengths` (a restore's) are passed."""
        _check_race(race)
        self.race = race
        # The definition never changes and is in every header the changelog gets (a header a
        # race per batch): encode it once.
        self._race_json = orjson.Fragment(orjson.dumps(race_to_dict(race)))
        self.state = RaceState.SCHEDULED
        self.version = 0  # of the latest published odds snapshot; 0 before the first
        self.dirty = True  # prices or state changed since that snapshot
        self.placings: tuple[str, ...] = ()
        self.dead_heats: tuple[tuple[str, ...], ...] = ()  # groups of placings sharing a place
        # Each withdrawn runner with its price then: Rule 4 deducts from the winnings of bets
        # struck before it (`settlement`).
        self.withdrawals: list[Withdrawal] = []
        self.void_reason = ""
        self.in_play = False
        self.started_at_ms = 0
        self.seed = 0
        self.length_mm = 0
        self.pending: list[tuple[int, Bet]] = []  # in-play bets waiting out the delay
        self.request_ids: deque[str] = deque(maxlen=REQUEST_IDS_MAX)
        self.runner_index = {runner.runner_id: i for i, runner in enumerate(race.runners)}
        self.strengths = strengths or [
            strength
            for _, strength in race_model.prior_strengths(
                [(runner.runner_id, runner.rating or DEFAULT_STRENGTH) for runner in race.runners]
            )
        ]
        # In play (`in_play`): the ladder ticks each price may show until the next strengths
        # update, and the end of a suspension after a price jump (None: not suspended).
        self.bands: list[in_play.Band | None] | None = None
        self.suspended_until_ms: int | None = None
        self.active = [True] * len(race.runners)
        self.stakes_minor = [0] * len(race.runners)
        self.payouts_minor = [0] * len(race.runners)
        self.pool_minor = 0  # stakes on runners still running: what the house holds
        self.outcomes: dict[BetKey, Outcome] = {}
        # When each recent version was replaced, for LATE; bounded by count and by time.
        self.superseded_at_ms: dict[int, int] = {}
        self._superseded_order: deque[int] = deque()
        self.latest_ms = race.at_ms
        self._strength_total_cached = 0
        self._fair: list[int] = []
        self._live_payouts: list[int] = []
        self._exposed: set[int] = set()  # runners whose payout exceeds the pool
        self._adjusted: list[int] = []
        self._adjusted_total = 0
        self._shown: list[Odds | None] | None = None  # `_shown_prices`, until a price moves
        self._reprice_all()

    # -- applying events ------------------------------------------------------------------

    def apply(self, event: BookEvent) -> Outcome | None:
        """A command (None), or a bet through `submit`: its outcome, or None while held."""
        if isinstance(event, Bet):
            return self.submit(event)
        self.command(event)
        return None

    def command(self, command: RaceCommand, request_id: str = "") -> None:
        """Apply a race command; one already applied under the same request id is a no-op."""
        if command.race_id != self.race.race_id:
            raise InvalidValue(f"command for race {command.race_id} sent to {self.race.race_id}")
        if request_id and request_id in self.request_ids:
            return
        allowed_from, to_state = _TRANSITIONS[type(command)]
        if self.state not in allowed_from or (isinstance(command, StartRace) and self.in_play):
            raise IllegalTransition(self.race.race_id, self.state, _command_name(command))
        if isinstance(command, ResultRace):
            self._check_placings(command.placings)
            _check_dead_heats(command.placings, command.dead_heats)
            self.placings, self.dead_heats = command.placings, command.dead_heats
        elif isinstance(command, VoidRace):
            self.void_reason = command.reason
        elif isinstance(command, WithdrawRunner):
            self._withdraw(command.runner_id, command.at_ms)
        elif isinstance(command, UpdateStrengths):
            self._update_strengths(command.strengths, command.at_ms)
        elif isinstance(command, StartRace):
            self.in_play, self.started_at_ms = True, command.at_ms
            self.seed, self.length_mm = command.seed, command.length_mm
        if to_state is not None:
            self.state = to_state
        if request_id:
            self.request_ids.append(request_id)
        self.dirty = True

    def place(self, bet: Bet) -> Outcome:
        """Decide a bet now, skipping the in-play delay (see `submit`). A bet decided before
        (the same user and bet id) gets its first outcome again if it is the same bet (runner
        and stake), and BET_ID_REUSED if it is not: neither changes the book."""
        first = self.outcomes.get((bet.user_id, bet.bet_id))
        if first is not None:
            return first if _same_bet(first, bet) else self.reused(bet)
        index = self.runner_index.get(bet.runner_id, -1)
        decision = self._decide(bet, index)
        if isinstance(decision, risk.Refusal):
            current = self.price_of(index) if decision.reason is RejectReason.ODDS_CHANGED else None
            outcome = self._outcome(bet, False, current, decision.reason, decision.detail)
        else:
            outcome = self._outcome(bet, True, decision, None, "")
            self._accept(bet, index, decision)
        self.outcomes[(bet.user_id, bet.bet_id)] = outcome
        return outcome

    def submit(self, bet: Bet) -> Outcome | None:
        """The entry point for bets: decide it now, or, in play with a bet delay, hold it
        (answering None; a bet already held is held once, another bet under its key is
        refused at once) until `release_due`."""
        delay_ms = self.race.risk.in_play_bet_delay_ms
        if not self.in_play or not delay_ms or (bet.user_id, bet.bet_id) in self.outcomes:
            return self.place(bet)
        for _, held in self.pending:
            if (held.user_id, held.bet_id) == (bet.user_id, bet.bet_id):
                same = (held.runner_id, held.stake_minor) == (bet.runner_id, bet.stake_minor)
                return None if same else self.reused(bet)
        self.pending.append((bet.received_at_ms + delay_ms, bet))
        return None

    def reused(self, bet: Bet) -> Outcome:
        """The answer to a bet whose (user, bet id) names another bet: refused, not kept."""
        detail = "this bet id is already one of your bets, with another runner or stake"
        return self._outcome(bet, False, None, RejectReason.BET_ID_REUSED, detail)

    def release_due(self, now_ms: int) -> list[Outcome]:
        """Decide held bets whose delay has passed, at the price of this moment. When the race
        is no longer open every held bet is decided at once (RACE_NOT_OPEN)."""
        if not self.pending:
            return []
        open_now = self.shown_state() is RaceState.OPEN
        due = [(at, bet) for at, bet in self.pending if at <= now_ms or not open_now]
        self.pending = [(at, bet) for at, bet in self.pending if at > now_ms and open_now]
        return [self.place(bet) for _, bet in due]

    # -- reading --------------------------------------------------------------------------

    def price_of(self, index: int) -> Odds:
        if not self.active[index]:
            raise InvalidValue(f"runner {self.race.runners[index].runner_id!r} is withdrawn")
        if self.bands is None and not self._at_floor():
            return self._raw_price(index)  # the common case: overround is the margin or more
        shown = self._shown_prices()[index]
        invariant(shown is not None, "an active runner has a price")
        return shown  # type: ignore[return-value]

    def shown_state(self) -> RaceState:
        """The state bettors see: an open race suspended after a price jump shows SUSPENDED."""
        if self.state is RaceState.OPEN and self.suspended_until_ms is not None:
            return RaceState.SUSPENDED
        return self.state

    def prices(self) -> tuple[RunnerPrice, ...]:
        return tuple(
            RunnerPrice(runner.runner_id, self.price_of(i) if self.active[i] else None)
            for i, runner in enumerate(self.race.runners)
        )

    def publish_odds(self, at_ms: int) -> OddsSnapshot | None:
        """The next odds version, if anything changed since the last one.

        Versions count published snapshots, not bets: a bettor names the version they saw, and
        LATE measures how long ago a newer one replaced it. Under load the caller conflates,
        publishing at most one version per race per interval.
        """
        if not self.dirty:
            return None
        if self.version:
            self._supersede(self.version, at_ms)
        self.version += 1
        self.dirty = False
        return self.odds_snapshot(at_ms)

    def odds_snapshot(self, at_ms: int) -> OddsSnapshot:
        return OddsSnapshot(
            self.race.race_id, self.version, self.shown_state(), self.prices(), at_ms
        )

    def liability_minor(self, index: int) -> int:
        """What the house loses, net of the pool it holds, if this runner wins."""
        return self.payouts_minor[index] - self.pool_minor

    def race_liability_minor(self) -> int:
        return max(
            (self.liability_minor(i) for i, active in enumerate(self.active) if active),
            default=0,
        )

    def weights(self) -> tuple[list[int], int]:
        """Adjusted weights and their total, for checks of the unrounded book."""
        return list(self._adjusted), self._adjusted_total

    def weights_from_scratch(self) -> tuple[list[int], int]:
        """The same weights recomputed from the book's facts: the incremental path must agree."""
        weights = pricing.adjusted_weights(
            self.race.pricing,
            [self._fair_weight(i) for i in range(len(self.race.runners))],
            self._live_payouts,
            self.pool_minor,
        )
        return weights, sum(weights)

    # -- snapshot and restore -------------------------------------------------------------

    def snapshot(self, with_outcomes: bool = True) -> bytes:
        """Every fact of the book; derived weights are recomputed on restore.

        The money on each runner is not stored: it is the sum of the accepted outcomes. Without
        outcomes this is the book's small header, which changes only on race commands and odds
        publications; a changelog writes it then, and each outcome once under its own key.
        """
        return orjson.dumps(
            {
                "schema": SNAPSHOT_SCHEMA,
                "race": self._race_json,
                "state": str(self.state),
                "version": self.version,
                "dirty": self.dirty,
                "placings": list(self.placings),
                "dead_heats": [list(group) for group in self.dead_heats],
                "withdrawals": [
                    [w.runner_id, w.odds.hundredths if w.odds else None, w.at_ms]
                    for w in self.withdrawals
                ],
                "void_reason": self.void_reason,
                "in_play": self.in_play,
                "started_at_ms": self.started_at_ms,
                "seed": self.seed,
                "length_mm": self.length_mm,
                "pending": [[at, bet_to_list(bet)] for at, bet in self.pending],
                "request_ids": list(self.request_ids),
                "strengths": self.strengths,
                "bands": None
                if self.bands is None
                else [list(b) if b else None for b in self.bands],
                "suspended_until_ms": self.suspended_until_ms,
                "active": self.active,
                "latest_ms": self.latest_ms,
                "superseded": [[v, self.superseded_at_ms[v]] for v in self._superseded_order],
                "outcomes": [outcome_to_list(outcome) for outcome in self.outcomes.values()]
                if with_outcomes
                else [],
            }
        )

    @classmethod
    def restore(cls, data: bytes, outcomes: Iterable[Outcome] = ()) -> Book:
        """A book from its snapshot; every field is checked first (`check_header`), so a
        corrupt snapshot is `InvalidValue`, never a book that fails later."""
        try:
            loaded = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise InvalidValue(f"snapshot does not decode: {error}") from None
        schema = loaded.get("schema") if isinstance(loaded, dict) else None
        if type(schema) is not int or schema != SNAPSHOT_SCHEMA:  # true is not 1
            raise InvalidValue("snapshot: not an object of the supported schema")
        fields = check_header(loaded)
        book = cls(fields["race"], list(fields["strengths"]))
        book.state = fields["state"]
        book.version = fields["version"]
        # The outcomes may be newer than a changelog header: publish once more to be sure.
        book.dirty = fields["dirty"] or bool(outcomes)
        book.placings = tuple(fields["placings"])
        book.dead_heats = tuple(tuple(group) for group in fields["dead_heats"])
        book.withdrawals = list(fields["withdrawals"])
        book.void_reason = fields["void_reason"]
        book.in_play = fields["in_play"]
        book.started_at_ms = fields["started_at_ms"]
        book.seed = fields["seed"]
        book.length_mm = fields["length_mm"]
        book.pending = list(fields["pending"])
        book.request_ids.extend(fields["request_ids"])
        book.strengths = list(fields["strengths"])
        book.bands = fields["bands"]
        book.suspended_until_ms = fields["suspended_until_ms"]
        book.active = list(fields["active"])
        book.latest_ms = fields["latest_ms"]
        book.superseded_at_ms = {v: at for v, at in fields["superseded"]}
        book._superseded_order = deque(v for v, _ in fields["superseded"])
        book.outcomes = {(o.user_id, o.bet_id): o for o in fields["outcomes"]}
        book.outcomes.update(((o.user_id, o.bet_id), o) for o in outcomes)
        book._sum_accepted_stakes()
        book._reprice_all()
        return book

    def _sum_accepted_stakes(self) -> None:
        """The money on each runner is the sum of its accepted bets: one source of truth."""
        for outcome in self.outcomes.values():
            if outcome.accepted and outcome.odds is not None:
                index = self.runner_index.get(outcome.runner_id, -1)
                if index < 0:
                    raise InvalidValue(f"outcome {outcome.bet_id}: no runner in this race")
                self.stakes_minor[index] += outcome.stake_minor
                self.payouts_minor[index] += payout_minor(outcome.stake_minor, outcome.odds)
        self.pool_minor = sum(
            stake for stake, active in zip(self.stakes_minor, self.active, strict=True) if active
        )

    # -- deciding a bet -------------------------------------------------------------------

    def _decide(self, bet: Bet, index: int) -> Odds | risk.Refusal:
        params = self.race.risk
        if bet.race_id != self.race.race_id:
            return risk.Refusal(RejectReason.INVALID, "bet is for another race")
        if self.state is not RaceState.OPEN:
            return risk.Refusal(RejectReason.RACE_NOT_OPEN, f"race is {self.state}")
        if self.suspended_until_ms is not None:
            return risk.Refusal(RejectReason.RACE_NOT_OPEN, "race is suspended: a price jumped")
        if sum(self.active) == 1:  # a walkover: 1.01 on a certain winner is a sure profit
            return risk.Refusal(RejectReason.RACE_NOT_OPEN, "a race of one runner takes no bets")
        if index < 0 or not self.active[index]:
            return risk.Refusal(RejectReason.UNKNOWN_RUNNER, f"no runner {bet.runner_id!r}")
        refusal = risk.check_stake(params, bet.stake_minor) or risk.check_freshness(
            params,
            bet.odds_version,
            self.version,
            self.superseded_at_ms.get(bet.odds_version),
            bet.received_at_ms,
        )
        if refusal is not None:
            return refusal
        granted = risk.granted_odds(params, bet.odds_seen, self.price_of(index))
        if isinstance(granted, risk.Refusal):
            return granted
        runner_after, race_after = self._liability_after(index, bet.stake_minor, granted)
        return risk.check_liability(params, runner_after, race_after) or granted

    def _liability_after(self, index: int, stake_minor: int, odds: Odds) -> tuple[int, int]:
        pool_after = self.pool_minor + stake_minor
        runner_after = self.payouts_minor[index] + payout_minor(stake_minor, odds) - pool_after
        # Only the backed runner's liability grows; every other one shrinks by the stake, so
        # the largest payout before the bet bounds them all.
        others_after = max(self._live_payouts) - pool_after
        return runner_after, max(runner_after, others_after)

    def _accept(self, bet: Bet, index: int, odds: Odds) -> None:
        payout = payout_minor(bet.stake_minor, odds)
        self.stakes_minor[index] += bet.stake_minor
        self.payouts_minor[index] += payout
        self._live_payouts[index] += payout
        self.pool_minor += bet.stake_minor
        if self.payouts_minor[index] - self.pool_minor > self.race.risk.runner_liability_max_minor:
            # The check that let the bet in computed this very sum: stop, loudly (on the hot
            # path, the message is made only then).
            invariant(
                False,
                f"race {self.race.race_id}: bet {bet.bet_id} took {bet.runner_id} past its cap",
            )
        self._fair[index] = self._fair_weight(index)
        # The pool grew, so only runners the house is exposed on see their weight change.
        for exposed in (index, *self._exposed):
            self._reprice_runner(exposed)
        self.dirty = True

    def _outcome(
        self,
        bet: Bet,
        accepted: bool,
        odds: Odds | None,
        reason: RejectReason | None,
        detail: str,
    ) -> Outcome:
        return Outcome(
            bet.bet_id,
            bet.user_id,
            bet.race_id,
            bet.runner_id,
            bet.stake_minor,
            accepted,
            odds,
            reason,
            detail,
            self.version,
            bet.received_at_ms,
        )

    # -- race commands --------------------------------------------------------------------

    def _check_placings(self, placings: tuple[str, ...]) -> None:
        if not placings:
            raise InvalidValue("a result needs at least a winner")
        if len(set(placings)) != len(placings):
            raise InvalidValue("a runner is placed twice")
        for runner_id in placings:
            index = self.runner_index.get(runner_id, -1)
            if index < 0 or not self.active[index]:
                raise InvalidValue(f"runner {runner_id!r} cannot be placed")

    def _withdraw(self, runner_id: str, at_ms: int) -> None:
        index = self.runner_index.get(runner_id, -1)
        if index < 0 or not self.active[index]:
            raise InvalidValue(f"runner {runner_id!r} is not running")
        if sum(self.active) == 1:
            raise InvalidValue("the last runner cannot be withdrawn")
        self.withdrawals.append(Withdrawal(runner_id, self.price_of(index), at_ms))
        self.active[index] = False
        self.pool_minor -= self.stakes_minor[index]  # those stakes will be returned
        self._reprice_all()

    def _update_strengths(self, strengths: tuple[tuple[str, int], ...], at_ms: int) -> None:
        new = list(self.strengths)
        for runner_id, strength in strengths:
            index = self.runner_index.get(runner_id, -1)
            if index < 0:
                raise InvalidValue(f"no runner {runner_id!r}")
            if type(strength) is not int or not 1 <= strength <= 10**9:
                raise InvalidValue(f"strength of {runner_id!r} must be in [1, 10^9]")
            new[index] = strength
        before = self._shown_ticks() if self.in_play else []
        before_weights, before_total = list(self._adjusted), self._adjusted_total
        before_strengths, self.strengths = self.strengths, new
        self.bands = None
        self._reprice_all()
        if self.in_play:
            self._trade_in_play(before, before_strengths, (before_weights, before_total), at_ms)

    def _trade_in_play(
        self,
        before: list[int | None],
        before_strengths: list[int],
        before_chances: tuple[list[int], int],
        at_ms: int,
    ) -> None:
        """Hold each price within a few ticks of the last, or go straight to the new prices
        when something happened, or suspend on a jump (`in_play`)."""
        params = self.race.pricing
        before_weights, before_total = before_chances
        if self.suspended_until_ms is not None and at_ms >= self.suspended_until_ms:
            self.suspended_until_ms = None  # resumed: this update is judged like any other
        if not in_play.something_happened(before_strengths, self.strengths, self.active):
            bands = in_play.bands(before, params.in_play_step_ticks)
            held = in_play.without_edges(
                in_play.within(self._raw_prices(), bands), self._adjusted, self._adjusted_total
            )
            if in_play.overround_at_least_one(held):  # else reprice at once: no sure profit
                self.bands = bands
        jump = in_play.jumped(
            before_weights, before_total, self._adjusted, self._adjusted_total,
            params.in_play_jump_bp,
        )  # fmt: skip
        if jump:
            self.suspended_until_ms = at_ms + params.in_play_suspend_ms
        if self.suspended_until_ms is not None:
            self.bands = None  # nobody can bet: show the new prices as they are
        self._shown = None

    # -- pricing state --------------------------------------------------------------------

    def _raw_price(self, index: int) -> Odds:
        return pricing.price(self.race.pricing, self._adjusted[index], self._adjusted_total)

    def _raw_prices(self) -> list[Odds | None]:
        return [self._raw_price(i) if active else None for i, active in enumerate(self.active)]

    def _at_floor(self) -> bool:
        """Whether the likeliest runner's exact price is below the ladder's floor (1.01), the
        one way rounding onto the ladder can take the overround below one."""
        margin = pricing.BASIS_POINTS + self.race.pricing.margin_bp
        top = max(self._adjusted)
        return top * margin * LADDER[0] > self._adjusted_total * pricing.BASIS_POINTS * ODDS_SCALE

    def _shown_prices(self) -> list[Odds | None]:
        """The raw prices held in their bands, then shortened if need be to an overround of at
        least one; without bands if holding them would need shortening (a bet moved them)."""
        if self._shown is None:
            raw = self._raw_prices()
            held = None
            if self.bands is not None:  # a bet may since have shortened a price past its band
                held = in_play.without_edges(
                    in_play.within(raw, self.bands), self._adjusted, self._adjusted_total
                )
            if held is not None and in_play.overround_at_least_one(held):
                self._shown = held
            else:
                self._shown = in_play.with_overround(raw)
        return self._shown

    def _shown_ticks(self) -> list[int | None]:
        return [self.price_of(i).tick if active else None for i, active in enumerate(self.active)]

    def _strength_total(self) -> int:
        return sum(s for s, active in zip(self.strengths, self.active, strict=True) if active)

    def _fair_weight(self, index: int) -> int:
        if not self.active[index]:
            return 0
        return pricing.fair_weight(
            self.race.pricing,
            self.strengths[index],
            self._strength_total_cached,
            self.stakes_minor[index],
        )

    def _reprice_all(self) -> None:
        self._strength_total_cached = self._strength_total()
        self._fair = [self._fair_weight(i) for i in range(len(self.race.runners))]
        # Withdrawn runners' payouts are void: they count as zero toward liability.
        self._live_payouts = [
            payout if active else 0
            for payout, active in zip(self.payouts_minor, self.active, strict=True)
        ]
        self._reprice_liabilities()

    def _reprice_liabilities(self) -> None:
        pool = self.pool_minor
        self._adjusted = pricing.adjusted_weights(
            self.race.pricing, self._fair, self._live_payouts, pool
        )
        self._adjusted_total = sum(self._adjusted)
        self._shown = None
        self._exposed = {i for i, payout in enumerate(self._live_payouts) if payout > pool}

    def _reprice_runner(self, index: int) -> None:
        exposure = self._live_payouts[index] - self.pool_minor
        weight = pricing.adjusted_weight(self.race.pricing, self._fair[index], exposure)
        self._adjusted_total += weight - self._adjusted[index]
        self._adjusted[index] = weight
        self._shown = None
        if exposure > 0:
            self._exposed.add(index)
        else:
            self._exposed.discard(index)

    def _supersede(self, version: int, at_ms: int) -> None:
        self.superseded_at_ms[version] = at_ms
        self._superseded_order.append(version)
        self.latest_ms = max(self.latest_ms, at_ms)
        self._forget_old_versions()

    def _forget_old_versions(self) -> None:
        """Forget versions too old to be fresh for any bet to come, or any bet held now.

        Freshness is judged at the edge's receipt, and an in-play bet is decided only after
        the bet delay: a version replaced after the oldest held bet arrived must outlive the
        window until that bet is decided, or a bet at the latest price would be called LATE.
        """
        params = self.race.risk
        since_ms = min((bet.received_at_ms for _, bet in self.pending), default=self.latest_ms)
        horizon_ms = min(self.latest_ms, since_ms) - params.late_window_ms
        order = self._superseded_order
        while order and (
            len(order) > params.version_history_max or self.superseded_at_ms[order[0]] < horizon_ms
        ):
            del self.superseded_at_ms[order.popleft()]


def command_allowed(state: RaceState, in_play: bool, command_type: type) -> bool:
    """Whether a race in `state` takes a command of this type (for checks before logging it)."""
    allowed_from, _ = _TRANSITIONS[command_type]
    return state in allowed_from and not (command_type is StartRace and in_play)


def _same_bet(first: Outcome, bet: Bet) -> bool:
    """Whether a bet sent again under its key is the bet decided (a retry), judged by what
    the outcome keeps of it: runner and stake (the race is the book's)."""
    return first.runner_id == bet.runner_id and first.stake_minor == bet.stake_minor


def _check_dead_heats(placings: tuple[str, ...], dead_heats: tuple[tuple[str, ...], ...]) -> None:
    """Each dead heat is two or more placed runners, next to each other in the placings, and
    no runner is in two of them."""
    seen: set[str] = set()
    for group in dead_heats:
        if len(group) < 2 or not set(group) <= set(placings) or seen & set(group):
            raise InvalidValue("a dead heat is two or more placed runners, each in one dead heat")
        start = min(placings.index(runner_id) for runner_id in group)
        if set(placings[start : start + len(group)]) != set(group):
            raise InvalidValue("runners in a dead heat are placed next to each other")
        seen |= set(group)


def result_places(
    placings: tuple[str, ...], dead_heats: tuple[tuple[str, ...], ...]
) -> tuple[frozenset[str], ...]:
    """The result as places, first first: each a runner alone, or a dead heat's group."""
    group_of = {runner_id: frozenset(group) for group in dead_heats for runner_id in group}
    places: list[frozenset[str]] = []
    for runner_id in placings:
        place = group_of.get(runner_id, frozenset({runner_id}))
        if not places or places[-1] != place:
            places.append(place)
    return tuple(places)


def _command_name(command: RaceCommand) -> str:
    name = type(command).__name__
    return "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()


def _check_race(race: CreateRace) -> None:
    if not race.runners:
        raise InvalidValue("a race needs at least one runner")
    ids = [runner.runner_id for runner in race.runners]
    if len(set(ids)) != len(ids):
        raise InvalidValue("runner ids must be unique")
    for runner in race.runners:
        if runner.rating is not None and not 1 <= runner.rating <= 10**9:
            raise InvalidValue(f"rating of {runner.runner_id!r} must be in [1, 10^9]")
