"""Names for the demo district: communities, and made-up people (no real persons)."""

from __future__ import annotations

import numpy as np

COMMUNITY_NAMES = [
    ("平江社区", "Pingjiang Community"),
    ("钮家巷社区", "Niujiaxiang Community"),
    ("大儒巷社区", "Daruxiang Community"),
    ("菉葭巷社区", "Lujiaxiang Community"),
    ("白塔社区", "Baita Community"),
    ("悬桥社区", "Xuanqiao Community"),
    ("华阳社区", "Huayang Community"),
    ("洙泗社区", "Zhusi Community"),
    ("仓街社区", "Cangjie Community"),
    ("官太尉社区", "Guantaiwei Community"),
    ("东园社区", "Dongyuan Community"),
    ("娄门社区", "Loumen Community"),
]

_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
_GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国文斌玉兰红梅志强海燕")


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` made-up Chinese names (surname + one or two given characters)."""
    surname = rng.choice(_SURNAMES, n)
    first = rng.choice(_GIVEN, n)
    second = np.where(rng.random(n) < 0.6, rng.choice(_GIVEN, n), "")
    return np.char.add(np.char.add(surname, first), second)


def phone_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` made-up 11-digit mobile numbers."""
    prefix = rng.choice(["135", "136", "138", "139", "150", "151", "158", "177", "186", "189"], n)
    rest = rng.integers(0, 100_000_000, n)
    return np.array([f"{p}{r:08d}" for p, r in zip(prefix, rest, strict=True)])
