import { shannonEntropy } from '../inspect/entropy.js';
import { payloadRuleFor } from '../inspect/topics.js';
import type { Finding, FindingAction, FindingClass, PacketEvent, Severity } from '../model.js';
import type { Policy } from '../policy/policy.js';
import type { Step } from '../step.js';
import { builtInFinding } from './validate.js';

/**
 * Behaviour against per-device baselines, in event time (receivedAt) so that a replay of the log
 * gives the same verdicts. Per device: PUBLISH rate per window while the device is sending (EWMA of
 * window counts, idle time left out: see closeWindows), payload size (EWMA mean), entropy (EWMA
 * mean), auth failures. Per source address: CONNECTs per second and auth failures. Baselines are
 * used only after warm-up (warmupMessages and warmupMs both reached); before that a new device is
 * judged by the absolute limits only. Values that trip a baseline are clamped before they are
 * learnt, so a flood does not teach the baseline that floods are normal.
 */
export interface DeviceBaseline {
  firstSeenAt: number;
  publishes: number;
  windowStart: number;
  windowCount: number;
  windowsSeen: number;
  rateEwma: number;
  secondStart: number;
  secondCount: number;
  sizeMean: number;
  entropyMean: number;
  entropySamples: number;
  authFailures: number[];
}

export interface SourceActivity {
  connectSecondStart: number;
  connectSecondCount: number;
  authFailures: number[];
}

interface AnomalyRule {
  readonly id: string;
  readonly class: FindingClass;
  readonly severity: Severity;
  readonly defaultAction: FindingAction;
}

export const ANOMALY_RULES = {
  rateBaseline: { id: 'ANOM-RATE-BASELINE', class: 'rate', severity: 'medium', defaultAction: 'quarantine' },
  rateAbsolute: { id: 'ANOM-RATE-ABSOLUTE', class: 'rate', severity: 'high', defaultAction: 'quarantine' },
  sizeCap: { id: 'ANOM-SIZE-CAP', class: 'size', severity: 'high', defaultAction: 'quarantine' },
  sizeBaseline: { id: 'ANOM-SIZE-BASELINE', class: 'size', severity: 'medium', defaultAction: 'flag' },
  entropy: { id: 'ANOM-ENTROPY', class: 'entropy', severity: 'medium', defaultAction: 'quarantine' },
  entropyShift: { id: 'ANOM-ENTROPY-SHIFT', class: 'entropy', severity: 'low', defaultAction: 'flag' },
  authBurstIp: { id: 'ANOM-AUTH-BURST-IP', class: 'auth-burst', severity: 'high', defaultAction: 'block' },
  authBurstClient: {
    id: 'ANOM-AUTH-BURST-CLIENT',
    class: 'auth-burst',
    severity: 'high',
    defaultAction: 'block',
  },
  connectRate: {
    id: 'ANOM-CONNECT-RATE',
    class: 'connection-rate',
    severity: 'high',
    defaultAction: 'block',
  },
} as const satisfies Record<string, AnomalyRule>;

const SIZE_ALPHA = 0.1;
const ENTROPY_ALPHA = 0.1;
/** Entropy rise over a low baseline that is worth a note (telemetry JSON is about 4.5-5.5 bits/byte). */
const ENTROPY_SHIFT_BITS = 2;
const ENTROPY_SHIFT_MAX_BASELINE = 5.5;
export function newDeviceBaseline(): DeviceBaseline {
  return {
    firstSeenAt: -1,
    publishes: 0,
    windowStart: 0,
    windowCount: 0,
    windowsSeen: 0,
    rateEwma: 0,
    secondStart: 0,
    secondCount: 0,
    sizeMean: 0,
    entropyMean: 0,
    entropySamples: 0,
    authFailures: [],
  };
}

export function newSourceActivity(): SourceActivity {
  return { connectSecondStart: 0, connectSecondCount: 0, authFailures: [] };
}

/** Timestamps inside the window ending at `now`, at most `keep` of them (a bounded list in state). */
function slide(timestamps: number[], now: number, windowMs: number, keep: number): number[] {
  const inWindow = timestamps.filter((t) => now - t < windowMs);
  inWindow.push(now);
  return inWindow.length > keep ? inWindow.slice(inWindow.length - keep) : inWindow;
}

export function createAnomalyStep(options: {
  readonly policy: Policy;
}): Step<DeviceBaseline, SourceActivity> {
  const { policy } = options;
  const a = policy.anomaly;
  const rules = ANOMALY_RULES;

  /**
   * Closes the window(s) that ended before `now` and learns from them. The baseline is the device's
   * rate while it sends, so that a device resuming its usual rate after a pause is judged against
   * that rate, not against a pause-deflated average (which once made 20 msg/s after five idle
   * minutes look like ten times the normal rate, and made a rerun of a benchmark with the same
   * device ids judge differently from the first run):
   *  - windows in which the device sent nothing are neither learnt nor decay the baseline;
   *  - the window the device went quiet in was probably cut short: it is learnt only when it does
   *    not lower the baseline (a short window can understate the rate, never overstate it);
   *  - after a pause the windows restart at the first message, so the counting does not depend on
   *    where in a window the device happened to resume.
   */
  function closeWindows(device: DeviceBaseline, now: number, warmed: boolean): void {
    const elapsed = Math.floor((now - device.windowStart) / a.rateWindowMs);
    if (elapsed < 1) return;
    const wentQuiet = elapsed > 1;
    const ceiling = Math.max(a.rateMinPerWindow, a.rateFactor * device.rateEwma);
    const learnt = warmed ? Math.min(device.windowCount, ceiling) : device.windowCount;
    if (device.windowsSeen === 0) {
      device.rateEwma = learnt;
      device.windowsSeen = 1;
    } else if (!wentQuiet || learnt >= device.rateEwma) {
      device.rateEwma = a.rateAlpha * learnt + (1 - a.rateAlpha) * device.rateEwma;
      device.windowsSeen += 1;
    }
    device.windowStart = wentQuiet ? now : device.windowStart + a.rateWindowMs;
    device.windowCount = 0;
  }

  function publishFindings(event: PacketEvent, device: DeviceBaseline, found: Array<Finding | null>): void {
    const now = event.receivedAt;
    const add = (rule: AnomalyRule, evidence: string, location: string) =>
      found.push(builtInFinding(policy, rule, 'anomaly', evidence, location));
    if (device.firstSeenAt < 0) {
      device.firstSeenAt = now;
      device.windowStart = now;
      device.secondStart = now;
    }
    device.publishes += 1;
    const warmed = device.publishes > a.warmupMessages && now - device.firstSeenAt >= a.warmupMs;

    // Rate: absolute per second (applies from the first message), then against the window baseline.
    if (now - device.secondStart >= 1000) {
      device.secondStart = now;
      device.secondCount = 0;
    }
    device.secondCount += 1;
    if (device.secondCount > a.rateAbsolutePerSecond) {
      add(rules.rateAbsolute, `${device.secondCount} messages in 1 s > ${a.rateAbsolutePerSecond}`, 'rate');
    }
    closeWindows(device, now, warmed);
    device.windowCount += 1;
    const rateCeiling = Math.max(a.rateMinPerWindow, a.rateFactor * device.rateEwma);
    if (warmed && device.windowsSeen > 0 && device.windowCount > rateCeiling) {
      add(
        rules.rateBaseline,
        `${device.windowCount} messages in ${a.rateWindowMs} ms window > ${rateCeiling.toFixed(1)} (baseline ${device.rateEwma.toFixed(1)})`,
        'rate',
      );
    }

    // Size: the fleet-wide cap, unless the topic's payload rule allows more (a camera topic carrying
    // images is sized by its own rule), then against the device's mean.
    const size = event.payload?.length ?? 0;
    const payloadRule = payloadRuleFor(policy, event.topic ?? '');
    const sizeCap = Math.max(a.sizeAbsoluteMaxBytes, payloadRule.maxBytes);
    if (size > sizeCap) add(rules.sizeCap, `${size} bytes > ${sizeCap}`, 'payload');
    const sizeCeiling = Math.max(a.sizeMinBytes, a.sizeFactor * device.sizeMean);
    if (warmed && size > sizeCeiling) {
      add(
        rules.sizeBaseline,
        `${size} bytes > ${sizeCeiling.toFixed(0)} (baseline mean ${device.sizeMean.toFixed(0)})`,
        'payload',
      );
    }
    const learntSize = warmed ? Math.min(size, sizeCeiling) : size;
    device.sizeMean =
      device.publishes === 1 ? learntSize : SIZE_ALPHA * learntSize + (1 - SIZE_ALPHA) * device.sizeMean;

    // Entropy: only where it means something (long enough, topic not exempt).
    if (event.payload !== null && size >= a.entropyMinBytes && !payloadRule.entropyExempt) {
      const bits = shannonEntropy(event.payload);
      if (bits > a.entropyMaxBitsPerByte) {
        add(
          rules.entropy,
          `${bits.toFixed(2)} bits/byte over ${size} bytes > ${a.entropyMaxBitsPerByte}`,
          'payload',
        );
      } else if (
        warmed &&
        device.entropySamples >= a.warmupMessages &&
        device.entropyMean < ENTROPY_SHIFT_MAX_BASELINE &&
        bits > device.entropyMean + ENTROPY_SHIFT_BITS
      ) {
        add(
          rules.entropyShift,
          `${bits.toFixed(2)} bits/byte, baseline ${device.entropyMean.toFixed(2)}`,
          'payload',
        );
      }
      device.entropyMean =
        device.entropySamples === 0 ? bits : ENTROPY_ALPHA * bits + (1 - ENTROPY_ALPHA) * device.entropyMean;
      device.entropySamples += 1;
    }
  }

  return {
    name: 'anomaly',
    state: { device: newDeviceBaseline, source: newSourceActivity },
    process(event, state) {
      const { device, source } = state;
      const found: Array<Finding | null> = [];
      const now = event.receivedAt;
      if (event.packetType === 'PUBLISH') publishFindings(event, device, found);
      if (event.packetType === 'CONNECT') {
        if (now - source.connectSecondStart >= 1000) {
          source.connectSecondStart = now;
          source.connectSecondCount = 0;
        }
        source.connectSecondCount += 1;
        if (source.connectSecondCount >= a.connectionsPerSourcePerSecond) {
          found.push(
            builtInFinding(
              policy,
              rules.connectRate,
              'anomaly',
              `${source.connectSecondCount} CONNECTs in 1 s from ${event.sourceIp}`,
              'connect',
            ),
          );
        }
        if (event.authResult === 'denied') {
          source.authFailures = slide(source.authFailures, now, a.burstWindowMs, a.authFailuresPerIp + 1);
          device.authFailures = slide(
            device.authFailures,
            now,
            a.burstWindowMs,
            a.authFailuresPerClientId + 1,
          );
          if (source.authFailures.length >= a.authFailuresPerIp) {
            found.push(
              builtInFinding(
                policy,
                rules.authBurstIp,
                'anomaly',
                `${source.authFailures.length}+ auth failures in ${a.burstWindowMs} ms from ${event.sourceIp}`,
                'connect',
              ),
            );
          }
          if (device.authFailures.length >= a.authFailuresPerClientId) {
            found.push(
              builtInFinding(
                policy,
                rules.authBurstClient,
                'anomaly',
                `${device.authFailures.length}+ auth failures in ${a.burstWindowMs} ms for ${event.clientId}`,
                'connect',
              ),
            );
          }
        }
      }
      return found.filter((f): f is Finding => f !== null);
    },
  };
}
