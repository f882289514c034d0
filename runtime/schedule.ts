// Learning-rate schedule: linear warmup to the peak, then cosine decay to a floor — the
// GPT-2/3 recipe. A function of the step only, so a resumed run continues exactly.
export interface ScheduleSettings {
  peak: number;
  warmupSteps: number;
  totalSteps: number;
  /** The floor as a fraction of the peak (GPT-3: 0.1). */
  minRatio: number;
}

export function learningRate(step: number, s: ScheduleSettings): number {
  if (step < s.warmupSteps) return (s.peak * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  const min = s.peak * s.minRatio;
  return min + 0.5 * (s.peak - min) * (1 + Math.cos(Math.PI * progress));
}
