// The bonus program's arithmetic: pure, integer-only, deterministic. Money is in
// minor units, points in hundredths of a point. Every division floors, so the
// engine never gives away a fraction it does not have:
//   pointsMax   = min(balance, floor(floor(total * payMaxBp / 10000) * 100 / pointValueMinor))
//   moneyPaid   = total - ceil(pointsToSpend * pointValueMinor / 100)   (points never pay a fraction of a kopeck more)
//   accrue      = floor(floor(moneyPaid * accrualBp / 10000) * 100 / pointValueMinor)

import type { BonusProgramConfig } from '../protocol/config.js';
import type { CheckLine } from '../protocol/types.js';

const BP_WHOLE = 10_000;
const POINT_HUNDREDTHS = 100;

export interface Decision {
  /** The most points payable on this check, hundredths (bounded by the balance). */
  pointsMax: number;
  /** The most points payable on this check by the program's cap alone. */
  pointsCap: number;
  /** Money the spent points cover, minor units. */
  moneyByPoints: number;
  moneyToPay: number;
  accrue: number;
}

export function checkTotal(lines: readonly CheckLine[]): number {
  let total = 0;
  for (let i = 0; i < lines.length; i++) total += lines[i]!.quantity * lines[i]!.unitPrice;
  return total;
}

/** Points (hundredths) → the money they pay, minor units; rounds up so points cover whole kopecks. */
export function pointsToMoney(program: BonusProgramConfig, points: number): number {
  return Math.ceil((points * program.pointValueMinor) / POINT_HUNDREDTHS);
}

/** Points (hundredths) accrued on `money` paid, minor units. */
export function accrualOf(program: BonusProgramConfig, money: number): number {
  return Math.floor((Math.floor((money * program.accrualBp) / BP_WHOLE) * POINT_HUNDREDTHS) / program.pointValueMinor);
}

export function pointsCapOf(program: BonusProgramConfig, total: number): number {
  const moneyCap = Math.floor((total * program.payMaxBp) / BP_WHOLE);
  return Math.floor((moneyCap * POINT_HUNDREDTHS) / program.pointValueMinor);
}

/** Decides a check for a guest holding `balance`, spending `spend` points (already within bounds). */
export function decide(program: BonusProgramConfig, balance: number, total: number, spend: number): Decision {
  const pointsCap = pointsCapOf(program, total);
  const pointsMax = Math.min(balance, pointsCap);
  const moneyByPoints = Math.min(total, pointsToMoney(program, spend));
  const moneyToPay = total - moneyByPoints;
  return { pointsMax, pointsCap, moneyByPoints, moneyToPay, accrue: accrualOf(program, moneyToPay) };
}
