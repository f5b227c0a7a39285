"""``bench investigate``'s rounds (scripts/bench/investigate.py): the three cursor pages it compares
(first, second, deep) take turns going first, and the slow page-number contrast comes in one
round of ten."""

from __future__ import annotations

from collections import Counter

from scripts.bench.investigate import DEEP, FIRST, PAGE_NUMBER, SECOND, round_order


def test_each_round_sends_every_cursor_page_once_each_going_first_in_turn() -> None:
    orders = [round_order(index, contrast_every=10) for index in range(99)]
    assert all(order.count(FIRST) == order.count(SECOND) == order.count(DEEP) == 1 for order in orders)
    assert Counter(order[0] for order in orders) == {FIRST: 33, SECOND: 33, DEEP: 33}
    assert Counter(order[2] for order in orders) == {FIRST: 33, SECOND: 33, DEEP: 33}


def test_the_page_number_contrast_comes_last_in_one_round_of_ten() -> None:
    orders = [round_order(index, contrast_every=10) for index in range(100)]
    with_contrast = [index for index, order in enumerate(orders) if PAGE_NUMBER in order]
    assert with_contrast == list(range(0, 100, 10))
    assert all(orders[index][-1] == PAGE_NUMBER for index in with_contrast)


def test_a_contrast_in_every_round_when_asked() -> None:
    assert all(PAGE_NUMBER in round_order(index, contrast_every=1) for index in range(5))
