"""Retail: a customer asks a shop's agent to cancel, re-address or return an order (``assay/Retail-v0``).

A `UserSimEnv` task family in the tau-bench pattern, generated procedurally (any index, seed-
deterministic). Each task has a world of one customer's orders (pending or delivered, items,
shipping address) plus a few other customers; the customer (the simulated user) opens with who
they are and what they want, and reveals the rest (the reason, the new address, which item) only
when the agent asks. The agent must look the customer up by name and zip code, find the order
among theirs, and act with the right arguments; the shop's rules are in the tools (only pending
orders can be cancelled or re-addressed, only delivered ones returned; nothing before the
customer is identified). The task is checked against the final orders, not the conversation.

Kinds (``kinds=``): ``cancel`` (a pending order, with a reason), ``address`` (a pending order's
new address), ``return`` (one item of a delivered order).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np

from assay.envs.tools.tool import Tool, ToolError
from assay.envs.tools.user_sim import UserSimEnv
from assay.verifiers.base import Task

__all__ = ["KINDS", "RetailEnv"]

KINDS = ("cancel", "address", "return")
_FIRST = ("Ava", "Ben", "Chloe", "Dev", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kenji", "Lena")
_LAST = ("Park", "Silva", "Okafor", "Novak", "Haddad", "Moreau", "Kowal", "Tanaka", "Reyes", "Berg")
_ITEMS = {
    "desk lamp": 34,
    "water bottle": 18,
    "hiking boots": 120,
    "yoga mat": 25,
    "coffee grinder": 60,
    "rain jacket": 85,
    "backpack": 70,
    "kettle": 40,
    "headphones": 150,
    "notebook set": 12,
}
_STREETS = ("Oak St", "Maple Ave", "Harbor Rd", "Cedar Ln", "Mill St", "Lake Dr")
_CITIES = ("Springfield", "Riverton", "Fairview", "Lakeside")
Reason = Literal["no longer needed", "ordered by mistake"]
_REASON_WORDS = {
    "no longer needed": "I don't need it anymore.",
    "ordered by mistake": "I ordered it by mistake.",
}

SYSTEM = (
    "You are a shop's customer-service agent. Identify the customer with find_customer (name and "
    "zip code) before anything else, use the tools to act on their orders, ask the customer for "
    "any detail you need, and tell them when their request is done."
)


def _address(rng: np.random.Generator) -> str:
    return f"{int(rng.integers(10, 999))} {rng.choice(_STREETS)}, {rng.choice(_CITIES)}"


def _generate(index: int, kinds: tuple[str, ...]) -> Task:
    rng = np.random.default_rng([20_260_307, index])
    kind = kinds[int(rng.integers(len(kinds)))]
    names = rng.choice(len(_FIRST) * len(_LAST), size=3, replace=False)
    customers: dict[str, Any] = {}
    orders: dict[str, Any] = {}
    order_no = iter(rng.choice(9_000_000, size=16, replace=False) + 1_000_000)
    for c, code in enumerate(names):
        cid = f"C{index % 1000:03d}{c}"
        customers[cid] = {
            "name": f"{_FIRST[code // len(_LAST)]} {_LAST[code % len(_LAST)]}",
            "zip": f"{int(rng.integers(10_000, 99_999))}",
            "orders": [],
        }
        items = list(rng.permutation(list(_ITEMS)))
        statuses = ["pending", "delivered"] + [
            str(s) for s in rng.choice(["pending", "delivered"], size=int(rng.integers(0, 2)))
        ]
        for status in statuses:
            oid = f"#W{next(order_no)}"
            picked = [items.pop() for _ in range(int(rng.integers(1, 3)))]
            orders[oid] = {
                "customer_id": cid,
                "status": status,
                "items": {item: _ITEMS[item] for item in sorted(picked)},
                "address": _address(rng),
            }
            customers[cid]["orders"].append(oid)
    cid = next(iter(customers))
    me = customers[cid]
    wanted = "pending" if kind in ("cancel", "address") else "delivered"
    target = next(o for o in me["orders"] if orders[o]["status"] == wanted)
    order = orders[target]
    item = sorted(order["items"])[0]
    expected = json.loads(json.dumps(orders))
    ident = [["find_customer", {"name": me["name"], "zip": me["zip"]}]]
    look = [["get_customer", {"customer_id": cid}]]
    see = [["get_order", {"order_id": target}]]
    if kind == "cancel":
        reason = str(rng.choice(list(_REASON_WORDS)))
        expected[target].update(status="cancelled", cancel_reason=reason)
        opening = f"Hi, I'm {me['name']} (zip {me['zip']}). I'd like to cancel my order with the {item}."
        goal = f"Cancel the pending order that contains the {item}. Reason if asked: {reason}."
        script = [{"when": ["why", "reason"], "say": _REASON_WORDS[reason]}]
        ask = "May I ask why you want to cancel it?"
        act = [["cancel_order", {"order_id": target, "reason": reason}]]
    elif kind == "address":
        new = _address(rng)
        while new == order["address"]:
            new = _address(rng)
        expected[target]["address"] = new
        opening = f"Hello, this is {me['name']}, zip {me['zip']}. I moved; my order with the {item} should go to my new address."
        goal = f"Ship the pending order with the {item} to {new} (give the address when asked)."
        script = [{"when": ["address", "where"], "say": f"The new address is {new}."}]
        ask = "What is the new address?"
        act = [["update_address", {"order_id": target, "address": new}]]
    else:
        expected[target]["status"] = "return requested"
        expected[target]["returned"] = [item]
        others = sorted(order["items"])
        opening = (
            f"Hi, {me['name']} here (zip {me['zip']}). I want to return something from a delivered order."
        )
        goal = f"Return only the {item} from the delivered order {'with ' + ' and '.join(others)}."
        script = [{"when": ["which", "what", "item"], "say": f"Just the {item}."}]
        ask = "Which item would you like to return?"
        act = [["return_item", {"order_id": target, "item": item}]]
    gold = [
        {"calls": ident},
        {"calls": look},
        {"calls": see},
        {"say": ask},
        {"calls": act},
        {"say": "Done: your request is complete. Is there anything else?"},
    ]
    return Task(
        id=f"retail/{index}",
        prompt=opening,
        answer=json.dumps(expected, sort_keys=True),
        meta={
            "kind": kind,
            "world": {"customers": customers, "orders": orders},
            "user_goal": goal,
            "user_script": script,
            "gold_turns": gold,
        },
    )


class RetailEnv(UserSimEnv):
    """A simulated customer asks to cancel, re-address or return an order; checked on the final orders."""

    def __init__(self, kinds: tuple[str, ...] | list[str] = KINDS, **kwargs: Any) -> None:
        self.kinds = tuple(kinds)
        if not self.kinds or set(self.kinds) - set(KINDS):
            raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {kinds!r}")
        self._identified: set[str] = set()
        kwargs.setdefault("system_prompt", SYSTEM)
        super().__init__(**kwargs)

    def task_at(self, index: int) -> Task:
        return _generate(index, self.kinds)

    def on_reset(self, task: Task) -> None:
        super().on_reset(task)
        self._identified = set()

    def final_world(self) -> str:
        return json.dumps(self.world.get("orders", {}), sort_keys=True)

    # -- the tools: they read and change self.world ---------------------------------------

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.world["orders"].get(order_id.strip())
        if order is None:
            raise ToolError(f"no order {order_id!r}")
        if order["customer_id"] not in self._identified:
            raise ToolError("identify the customer with find_customer first")
        return dict(order)

    def world_tools(self) -> list[Tool]:
        def find_customer(name: str, zip: str) -> str:
            """Find a customer by full name and zip code; returns the customer id.

            Args:
                name: Full name, e.g. "Ava Park".
                zip: Five-digit zip code.
            """
            for cid, c in self.world["customers"].items():
                if c["name"].lower() == name.strip().lower() and c["zip"] == zip.strip():
                    self._identified.add(cid)
                    return str(cid)
            raise ToolError("no customer with that name and zip code")

        def get_customer(customer_id: str) -> dict[str, Any]:
            """A customer's details and order ids.

            Args:
                customer_id: The id find_customer returned.
            """
            if customer_id not in self._identified:
                raise ToolError("identify the customer with find_customer first")
            return dict(self.world["customers"][customer_id])

        def get_order(order_id: str) -> dict[str, Any]:
            """An order's status, items (with prices) and shipping address.

            Args:
                order_id: E.g. "#W1234567".
            """
            return self._order(order_id)

        def cancel_order(order_id: str, reason: Reason) -> str:
            """Cancel a pending order.

            Args:
                order_id: The order to cancel.
                reason: Why the customer cancels.
            """
            if self._order(order_id)["status"] != "pending":
                raise ToolError("only pending orders can be cancelled")
            self.world["orders"][order_id].update(status="cancelled", cancel_reason=reason)
            return f"order {order_id} cancelled"

        def update_address(order_id: str, address: str) -> str:
            """Change the shipping address of a pending order.

            Args:
                order_id: The order.
                address: The full new address.
            """
            if self._order(order_id)["status"] != "pending":
                raise ToolError("only pending orders can be re-addressed")
            self.world["orders"][order_id]["address"] = address.strip()
            return f"order {order_id} will ship to {address.strip()}"

        def return_item(order_id: str, item: str) -> str:
            """Request the return of one item of a delivered order.

            Args:
                order_id: The order.
                item: The item's name, as get_order lists it.
            """
            order = self._order(order_id)
            if order["status"] not in ("delivered", "return requested"):
                raise ToolError("only delivered orders can be returned")
            if item not in order["items"]:
                raise ToolError(f"order {order_id} has no item {item!r}")
            stored = self.world["orders"][order_id]
            stored["status"] = "return requested"
            stored["returned"] = sorted({*stored.get("returned", []), item})
            return f"return of {item} from {order_id} requested"

        fns = (find_customer, get_customer, get_order, cancel_order, update_address, return_item)
        return [Tool.from_function(fn, isolation="inline") for fn in fns]
