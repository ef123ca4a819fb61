export type { FreezeEvent, FreezePolicy, PlanBlock } from './freeze-plan';
export { FreezePlan } from './freeze-plan';
export type { FreezeoutOptions, ScheduleShape } from './freezeout-schedule';
export { DEFAULT_FREEZEOUT, FreezeoutSchedule, freezeTimes } from './freezeout-schedule';
export type { BlockPreview, SchedulePreview } from './preview';
export { formatPreview, previewSchedule } from './preview';
