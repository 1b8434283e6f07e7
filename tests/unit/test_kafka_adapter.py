"""The Kafka adapter's settings that need no broker."""

from __future__ import annotations

import aiokafka.producer.sender

from betting.log import kafka


def test_a_new_transaction_retries_concurrent_transactions_after_2_ms() -> None:
    """aiokafka retries after a fixed 20 ms, which every back-to-back batch paid; importing
    the adapter shortens it (and would fail if aiokafka renamed the constant)."""
    assert kafka.CONCURRENT_TRANSACTIONS_BACKOFF_S == 0.002
    assert aiokafka.producer.sender.BACKOFF_OVERRIDE == kafka.CONCURRENT_TRANSACTIONS_BACKOFF_S
