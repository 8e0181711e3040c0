namespace Functional.Streams;

/// <summary>What a live source does when its buffer is full because the consumer fell behind.</summary>
public enum OverflowPolicy
{
    /// <summary>The producer's OnNext waits for room (it slows a source that can wait; not for sensors or sockets that cannot).</summary>
    Block,

    /// <summary>The oldest buffered element is dropped to make room (the consumer sees the freshest data).</summary>
    DropOldest,

    /// <summary>The arriving element is dropped (what is buffered is kept).</summary>
    DropNewest,

    /// <summary>The stream fails with a <see cref="StreamException"/> saying the buffer overflowed.</summary>
    Fail,
}
