/**
 * The one device a downlink topic is for, if any (the bridge keys records by it, the edge delivers
 * live and retained messages by it). A topic of the form `clients/{client_id}/...` names one device: the
 * record is keyed by that client id (all of a device's downlink in one partition, in order) and
 * carries it as targetClientId, so the edge delivers it to that device's session only. Any other
 * topic is keyed by the topic itself and goes to every subscriber whose filter matches.
 */
export function downlinkTargetOf(topic: string): string | null {
  const levels = topic.split('/');
  if (levels.length >= 3 && levels[0] === 'clients' && levels[1] !== undefined && levels[1] !== '') {
    return levels[1];
  }
  return null;
}
