"""`safetymon calc ssm` and `safetymon calc iso13855`: distance calculators for safety officers."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from safetymon.geometry.iso13855 import Approach, Iso13855InputError, minimum_distance
from safetymon.geometry.ssm import (
    SsmInputError,
    max_robot_speed,
    protective_separation_distance,
    stopping_from_deceleration,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `calc` command group."""
    parser = subparsers.add_parser("calc", help="safety distance calculators")
    commands = parser.add_subparsers(dest="calc_command", metavar="FORMULA", required=True)

    ssm = commands.add_parser(
        "ssm",
        help="ISO/TS 15066 protective separation distance S_p and velocity scaling",
        description="S_p = v_h·(T_r+T_s) + v_r·T_r + S_s + C + Z_d + Z_r (metres, m/s, seconds).",
    )
    ssm.add_argument("--human-speed", type=float, required=True, metavar="V_H", help="m/s")
    ssm.add_argument("--robot-speed", type=float, required=True, metavar="V_R", help="m/s")
    ssm.add_argument("--reaction-time", type=float, required=True, metavar="T_R", help="s")
    ssm.add_argument(
        "--stopping-time", type=float, metavar="T_S", help="s (with --stopping-distance)"
    )
    ssm.add_argument("--stopping-distance", type=float, metavar="S_S", help="m")
    ssm.add_argument("--deceleration", type=float, metavar="A_S", help="m/s² (instead of T_S, S_S)")
    ssm.add_argument("--intrusion", type=float, required=True, metavar="C", help="m")
    ssm.add_argument("--human-uncertainty", type=float, required=True, metavar="Z_D", help="m")
    ssm.add_argument("--robot-uncertainty", type=float, required=True, metavar="Z_R", help="m")
    ssm.add_argument(
        "--distance", type=float, metavar="D", help="measured distance, m: also print v_r,max"
    )
    ssm.add_argument("--json", action="store_true", help="print one JSON object")
    ssm.set_defaults(func=run_ssm)

    iso = commands.add_parser(
        "iso13855",
        help="ISO 13855 minimum distance S = K·T + C of a protective device",
        description="Results in millimetres.",
    )
    iso.add_argument(
        "--approach", required=True, choices=[a.value for a in Approach], help="approach"
    )
    iso.add_argument("--stopping-time", type=float, required=True, metavar="T", help="s")
    iso.add_argument("--resolution", type=float, metavar="D_MM", help="detection capability, mm")
    iso.add_argument("--height", type=float, metavar="H_MM", help="field height (parallel), mm")
    iso.add_argument("--json", action="store_true", help="print one JSON object")
    iso.set_defaults(func=run_iso13855)


class _InputError(ValueError):
    """A command line value is unusable; the message names the option."""


def _checked(option: str, value: float | None, *, positive: bool = False) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise _InputError(f"{option} must be a finite number {bound}, got {value}")
    return value


def _ssm_result(args: argparse.Namespace) -> dict[str, Any]:
    values = {
        "--human-speed": args.human_speed,
        "--robot-speed": args.robot_speed,
        "--reaction-time": args.reaction_time,
        "--intrusion": args.intrusion,
        "--human-uncertainty": args.human_uncertainty,
        "--robot-uncertainty": args.robot_uncertainty,
        "--stopping-time": args.stopping_time,
        "--stopping-distance": args.stopping_distance,
        "--distance": args.distance,
    }
    for option, value in values.items():
        _checked(option, value)
    _checked("--deceleration", args.deceleration, positive=True)
    measured = (args.stopping_time, args.stopping_distance)
    if args.deceleration is not None:
        if any(v is not None for v in measured):
            raise _InputError(
                "give --deceleration or --stopping-time with --stopping-distance, not both"
            )
        stopping = stopping_from_deceleration(args.robot_speed, args.deceleration)
        stopping_time, stopping_distance = stopping.stopping_time_s, stopping.stopping_distance_m
    elif None in measured:
        missing = "--stopping-time" if args.stopping_time is None else "--stopping-distance"
        raise _InputError(f"{missing} is missing (or give --deceleration)")
    else:
        stopping_time, stopping_distance = measured
    if args.distance is not None and args.deceleration is None:
        raise _InputError("--distance needs --deceleration (velocity scaling model)")
    terms = protective_separation_distance(
        human_speed_mps=args.human_speed,
        robot_speed_mps=args.robot_speed,
        reaction_time_s=args.reaction_time,
        stopping_time_s=stopping_time,
        stopping_distance_m=stopping_distance,
        intrusion_distance_m=args.intrusion,
        human_uncertainty_m=args.human_uncertainty,
        robot_uncertainty_m=args.robot_uncertainty,
    )
    result: dict[str, Any] = terms.as_dict()
    result["T_s_s"] = stopping_time
    if args.distance is not None:
        v_max = max_robot_speed(
            distance_m=args.distance,
            human_speed_mps=args.human_speed,
            reaction_time_s=args.reaction_time,
            deceleration_mps2=args.deceleration,
            intrusion_distance_m=args.intrusion,
            human_uncertainty_m=args.human_uncertainty,
            robot_uncertainty_m=args.robot_uncertainty,
        )
        result["distance_m"] = args.distance
        result["max_robot_speed_mps"] = v_max
    return result


def run_ssm(args: argparse.Namespace) -> int:
    """Print S_p with its terms (and v_r,max with --distance)."""
    try:
        result = _ssm_result(args)
    except (_InputError, SsmInputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
        return 0
    print("ISO/TS 15066 protective separation distance")
    rows = [
        ("S_h = v_h·(T_r + T_s)", result["S_h_m"]),
        ("S_r = v_r·T_r", result["S_r_m"]),
        ("S_s (stopping distance)", result["S_s_m"]),
        ("C (intrusion)", result["C_m"]),
        ("Z_d (human uncertainty)", result["Z_d_m"]),
        ("Z_r (robot uncertainty)", result["Z_r_m"]),
        ("S_p", result["protective_separation_distance_m"]),
    ]
    for label, value in rows:
        print(f"  {label:<26} {value:8.3f} m")
    if "max_robot_speed_mps" in result:
        print(
            f"  largest safe robot speed at {result['distance_m']} m: "
            f"{result['max_robot_speed_mps']:.3f} m/s"
        )
    return 0


def run_iso13855(args: argparse.Namespace) -> int:
    """Print the ISO 13855 minimum distance."""
    try:
        for option, value in (
            ("--stopping-time", args.stopping_time),
            ("--resolution", args.resolution),
            ("--height", args.height),
        ):
            _checked(option, value)
        if args.approach == Approach.PERPENDICULAR.value and args.resolution is None:
            raise _InputError("--resolution is required for a perpendicular approach")
        if args.approach == Approach.PARALLEL.value and args.height is None:
            raise _InputError("--height is required for a parallel approach")
        result = minimum_distance(args.approach, args.stopping_time, args.resolution, args.height)
    except (_InputError, Iso13855InputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    payload = {
        "minimum_distance_mm": result.minimum_distance_mm,
        "K_mm_per_s": result.K_mm_per_s,
        "C_mm": result.C_mm,
        "rule": result.rule,
    }
    if args.json:
        print(json.dumps(payload))
    else:
        print(f"ISO 13855 minimum distance ({result.rule})")
        print(f"  S = K·T + C = {result.K_mm_per_s:g}·{args.stopping_time:g} + {result.C_mm:g}")
        print(f"  minimum distance {result.minimum_distance_mm:.1f} mm")
    return 0
