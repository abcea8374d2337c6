// The timeline of each room the client has looked at.

import { Timeline } from "../model/timeline.js";

const timelines = new Map();

export function timelineOf(room) {
  let tl = timelines.get(room);
  if (!tl) {
    tl = new Timeline(room);
    timelines.set(room, tl);
  }
  return tl;
}

/** The timeline if one exists (no new one is made). */
export function existingTimeline(room) {
  return timelines.get(room);
}

export function forgetTimeline(room) {
  timelines.delete(room);
}

export function clearTimelines() {
  timelines.clear();
}
