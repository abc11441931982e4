import { topicCatalog } from './catalog.js';
import type { TopicSuffix } from './topics.js';

/** MQTT publish options for a topic, straight from the catalogue (never spelled at call sites). */
export function publishOptionsFor(suffix: TopicSuffix): { qos: 0 | 1; retain: boolean } {
  const spec = topicCatalog[suffix];
  return { qos: spec.qos, retain: spec.retained };
}
