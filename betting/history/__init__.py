"""Bet history in a database: bets, settlements and ledger transfers, fed exactly once from
the log by the history sink (`betting/tasks/history_sink.py`). SQLite is the embedded
default, PostgreSQL the production one (docs/history.md).

- `database.py`: the two databases behind one small interface
- `schema.py`: the tables and their schema version
- `store.py`: rows and their log positions, written in one transaction
- `queries.py`: paginated reads
"""
