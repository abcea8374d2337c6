// Messages being sent (shown greyed until stored) and images attached in the composer.

const outbox = new Map(); // client_id -> entry
export const attachments = { files: [] };

export function outboxEntries() {
  return [...outbox.values()];
}

export function outboxFor(room) {
  return outboxEntries().filter((e) => e.room === room);
}

export function queued(clientId) {
  return outbox.get(clientId);
}

export function enqueue(entry) {
  outbox.set(entry.clientId, entry);
}

export function dequeue(clientId) {
  const entry = outbox.get(clientId);
  outbox.delete(clientId);
  return entry;
}

export function clearOutbox() {
  outbox.clear();
  for (const f of attachments.files) URL.revokeObjectURL(f.url);
  attachments.files = [];
}
