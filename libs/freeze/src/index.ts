export type { FreezeEvent, FreezePolicy } from './freeze-plan';
export { FreezePlan } from './freeze-plan';
export type { SchedulePreview } from './preview';
export { formatPreview, previewSchedule } from './preview';
