"""A person's decisions on pairs of records (confirm / reject), applied to the links of a run.

- A **confirmed** pair is merged whatever the model says: below `review`, or not scored at all
  (no blocking rule brought it together). It becomes a deterministic edge.
- A **rejected** pair is never merged, not even through a third record. The merge edges are
  taken one by one, confirmed pairs first (by pair key), then the model's merges from the most
  likely down; an edge that would put the two records of a rejected pair into one cluster is
  dropped (the pair goes to review, `reason` says which rejection it would break). So the most
  likely edges keep their merge and a rejection wins over a confirmation that contradicts it.

The link table records `decision` = merge / review, `reason` = `confirmed by <reviewer>` /
`rejected by <reviewer>`, and `reviewer`.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

DECISIONS = ("confirm", "reject")  # the values a person may choose (the review sheet's drop-down)
# one row per decided pair (sources.record_linkage.review.read_decisions)
DECISION_COLUMNS = (
    "pair_key",
    "unique_id_l",
    "unique_id_r",
    "decision",
    "reviewer",
    "note",
    "decided_at",
    "file",
    "row",
)
PAIR_SEPARATOR = "|"


def pair_key(a: str, b: str) -> str:
    """The pair's stable key: its two unique_ids, ordered, joined by `|`."""
    lo, hi = sorted((str(a), str(b)))
    return f"{lo}{PAIR_SEPARATOR}{hi}"


def pair_keys(links: pd.DataFrame) -> pd.Series:
    return pd.Series(
        [pair_key(a, b) for a, b in zip(links["unique_id_l"], links["unique_id_r"], strict=True)],
        index=links.index,
        dtype=object,
    )


def no_decisions() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in DECISION_COLUMNS})


def latest(decisions: pd.DataFrame) -> pd.DataFrame:
    """One decision per pair: the last one in `decisions` (a later sheet's decision wins)."""
    return decisions.drop_duplicates("pair_key", keep="last").reset_index(drop=True)


class _Components:
    """Union-find whose components carry the rejections they must not join. Hand-written: splink's
    clustering (and networkx's) has no cannot-link constraint."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        # root -> {a record in another component: (the rejected pair's key, its reviewer)}
        self.vetoes: dict[str, dict[str, tuple[str, str]]] = {}

    def find(self, x: str) -> str:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while x != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def veto(self, a: str, b: str, key: str, reviewer: str) -> None:
        self.vetoes.setdefault(self.find(a), {})[b] = (key, reviewer)
        self.vetoes.setdefault(self.find(b), {})[a] = (key, reviewer)

    def blocking(self, a: str, b: str) -> tuple[str, str] | None:
        """The rejection (key, reviewer) that joining a's and b's components would break, if any."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        small, other = (ra, rb) if len(self.vetoes.get(ra, ())) <= len(self.vetoes.get(rb, ())) else (rb, ra)
        for node, why in self.vetoes.get(small, {}).items():
            if self.find(node) == other:
                return why
        return None

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        va, vb = self.vetoes.pop(ra, {}), self.vetoes.pop(rb, {})
        if len(va) < len(vb):
            ra, rb, va, vb = rb, ra, vb, va
        self.parent[rb] = ra
        va.update(vb)
        if va:
            self.vetoes[ra] = va


def _checked(decisions: pd.DataFrame) -> pd.DataFrame:
    """`decisions` as read_decisions gives them; anything else (a column missing, a decision not
    in DECISIONS, a key that is not its pair's) is refused, naming the first bad row."""
    missing = [
        c for c in ("pair_key", "unique_id_l", "unique_id_r", "decision", "reviewer") if c not in decisions
    ]
    if missing:
        raise ValueError(f"decisions lack column(s) {', '.join(missing)} (see DECISION_COLUMNS)")
    for i, (key, a, b, d) in enumerate(
        zip(
            decisions["pair_key"],
            decisions["unique_id_l"],
            decisions["unique_id_r"],
            decisions["decision"],
            strict=True,
        )
    ):
        if d not in DECISIONS or a == b or key != pair_key(a, b):
            raise ValueError(
                f"decisions row {i}: {key!r} ({a!r}, {b!r}) {d!r}: needs a decision in {', '.join(DECISIONS)} "
                "and pair_key(unique_id_l, unique_id_r) as its key"
            )
    return decisions


def apply_decisions(
    links: pd.DataFrame, decisions: pd.DataFrame | None, records: Iterable[str]
) -> tuple[pd.DataFrame, list[str]]:
    """The links with the decisions applied (see the module docstring) and the pair keys of the
    decisions not applied because a record of the pair is not among `records` (unique_ids)."""
    links = links.copy()
    links["reviewer"] = None
    decided = latest(_checked(decisions)) if decisions is not None and len(decisions) else no_decisions()
    known = set(records)
    present = decided["unique_id_l"].isin(known) & decided["unique_id_r"].isin(known)
    unapplied = decided.loc[~present, "pair_key"].tolist()
    decided = decided[present].set_index("pair_key")

    keys = pair_keys(links)
    listed = set(keys)
    extra = decided[~decided.index.isin(listed)]
    if len(extra):  # decided pairs the model did not list: a row each, no probability or agreement
        rows = pd.DataFrame(
            {"unique_id_l": extra["unique_id_l"].to_numpy(), "unique_id_r": extra["unique_id_r"].to_numpy()}
        )
        links = pd.concat([links, rows], ignore_index=True)
        keys = pair_keys(links)
    on = keys.isin(decided.index)
    d = decided.reindex(keys[on])
    verb = d["decision"].map({"confirm": "confirmed", "reject": "rejected"})
    links.loc[on, "decision"] = d["decision"].map({"confirm": "merge", "reject": "review"}).to_numpy()
    links.loc[on, "reason"] = (verb + " by " + d["reviewer"].astype(str)).to_numpy()
    links.loc[on, "reviewer"] = d["reviewer"].to_numpy()

    comps = _Components()
    for key, row in decided[decided["decision"] == "reject"].iterrows():
        comps.veto(row["unique_id_l"], row["unique_id_r"], key, row["reviewer"])
    if comps.vetoes:
        merge = links["decision"] == "merge"
        confirmed = merge & links["reviewer"].notna()
        # confirmed pairs first (by key), then the model's merges as ranked (most likely first)
        order = list(keys[confirmed].sort_values().index) + list(links.index[merge & ~confirmed])
        for i in order:
            a, b = links.at[i, "unique_id_l"], links.at[i, "unique_id_r"]
            why = comps.blocking(a, b)
            if why is None:
                comps.union(a, b)
                continue
            before = f"{links.at[i, 'reason']}, but " if pd.notna(links.at[i, "reviewer"]) else ""
            links.at[i, "decision"] = "review"
            links.at[i, "reason"] = f"{before}would join {why[0]}, rejected by {why[1]}"
    links = links.sort_values(
        ["match_probability", "unique_id_l", "unique_id_r"], ascending=[False, True, True], na_position="last"
    )
    return links.reset_index(drop=True), unapplied
