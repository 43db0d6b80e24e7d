import t from 'tap'
import { MessageQueue } from '../../src/message-queue.js'

t.test('items pushed before reading are delivered in order', async (t) => {
  const queue = new MessageQueue<number>(10)
  queue.push(1)
  queue.push(2)
  queue.end()
  const seen: number[] = []
  for await (const item of queue) seen.push(item)
  t.same(seen, [1, 2])
})

t.test('a waiting reader gets the next push', async (t) => {
  const queue = new MessageQueue<string>(10)
  const next = queue.next()
  queue.push('a')
  t.same(await next, { value: 'a', done: false })
})

t.test('end() releases a waiting reader with done', async (t) => {
  const queue = new MessageQueue<string>(10)
  const next = queue.next()
  queue.end()
  t.same(await next, { value: undefined, done: true })
})

t.test('pushes after end() are ignored', async (t) => {
  const queue = new MessageQueue<string>(10)
  queue.end()
  queue.push('late')
  t.equal(queue.length, 0)
  t.same(await queue.next(), { value: undefined, done: true })
})

t.test('a second concurrent reader is refused with an exact message', async (t) => {
  const queue = new MessageQueue<string>(10)
  const first = queue.next()
  await t.rejects(queue.next(), { message: 'messages() has one reader at a time; await each next() before the following one' })
  queue.push('x')
  t.same(await first, { value: 'x', done: false })
})

t.test('breaking out of a loop keeps unread items for the next loop', async (t) => {
  const queue = new MessageQueue<number>(10)
  for (const n of [1, 2, 3]) queue.push(n)
  for await (const item of queue) {
    if (item === 1) break
  }
  queue.end()
  const rest: number[] = []
  for await (const item of queue) rest.push(item)
  t.same(rest, [2, 3])
})

t.test('onFull fires once at the high-water mark and onDrained once at half of it', async (t) => {
  const events: string[] = []
  const queue = new MessageQueue<number>(4, { onFull: () => events.push('full'), onDrained: () => events.push('drained') })
  for (let i = 0; i < 6; i++) queue.push(i)
  t.same(events, ['full'])
  await queue.next()
  await queue.next()
  await queue.next()
  t.same(events, ['full'], 'still 3 queued, above half of 4')
  await queue.next()
  t.same(events, ['full', 'drained'])
})

t.test('a long-lived queue compacts and keeps order across thousands of items', async (t) => {
  const queue = new MessageQueue<number>(1_000_000)
  for (let i = 0; i < 5000; i++) queue.push(i)
  for (let i = 0; i < 5000; i++) {
    const { value } = await queue.next()
    if (value !== i) t.fail(`expected ${i}, got ${String(value)}`)
  }
  t.equal(queue.length, 0)
})

t.test('highWater must be a positive integer', async (t) => {
  t.throws(() => new MessageQueue(0), { message: 'highWater must be a positive integer, got 0' })
})

t.test('onFull fires at the byte high-water mark too, and onDrained once both are at half', async (t) => {
  const events: string[] = []
  const queue = new MessageQueue<string>(1024, { onFull: () => events.push('full'), onDrained: () => events.push('drained') }, 1000)
  queue.push('a', 400)
  queue.push('b', 400)
  t.same(events, [], '800 bytes: under the mark')
  queue.push('c', 400)
  t.same(events, ['full'], '1200 bytes: over it, though only 3 of 1024 items')
  t.equal(queue.bytes, 1200)
  await queue.next()
  t.same(events, ['full'], '800 bytes left: above half')
  await queue.next()
  t.same(events, ['full', 'drained'], '400 bytes left: at most half')
  t.equal(queue.bytes, 400)
  await queue.next()
  t.equal(queue.bytes, 0)
})

t.test('highWaterBytes must be at least 1', async (t) => {
  t.throws(() => new MessageQueue(1, undefined, 0), { message: 'highWaterBytes must be at least 1, got 0' })
})
