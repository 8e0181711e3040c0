namespace Functional.Training;

// Thread-safety and lifetime: which calls may overlap, and what a disposed model says.
//  - Predict and Evaluate may run on many threads at once (they only read the state).
//  - Fit, on one thread at a time, replaces the state at step boundaries under a write lock, so
//    a Predict on another thread sees the state of one step boundary, never a half-updated or
//    disposed one; a second concurrent Fit is an InvalidOperationException.
//  - RestoreVariables and Resume from another thread while Fit runs are refused (Fit's own
//    forward pass reads the state without the lock); on Fit's thread (callbacks) they are fine.
//  - After Dispose, every call is an ObjectDisposedException naming the model.
public sealed partial class Model
{
    readonly ReaderWriterLockSlim stateLock = new(LockRecursionPolicy.SupportsRecursion);
    int fitThread;
    bool disposed;

    /// <summary>Whether Fit is running (on any thread).</summary>
    public bool IsFitting => Volatile.Read(ref fitThread) != 0;

    /// <summary>Runs <paramref name="read"/> while no step boundary can replace the state.</summary>
    T Reading<T>(Func<T> read)
    {
        stateLock.EnterReadLock();
        try
        {
            ThrowIfDisposed();
            return read();
        }
        finally
        {
            stateLock.ExitReadLock();
        }
    }

    /// <summary>Runs <paramref name="write"/> with no reader present (a step boundary).</summary>
    void Writing(Action write)
    {
        RequireNoReadLock();
        stateLock.EnterWriteLock();
        try
        {
            ThrowIfDisposed();
            write();
        }
        finally
        {
            stateLock.ExitWriteLock();
        }
    }

    /// <summary>Runs <paramref name="read"/> on the state of one step boundary (e.g. to save it
    /// while Fit runs on another thread): Fit waits until it returns.</summary>
    public void ReadState(Action<TrainState> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        Reading(() =>
        {
            read(State);
            return 0;
        });
    }

    /// <summary>Marks this thread as the one running Fit until the returned scope ends. Under the
    /// write lock, so it cannot interleave with Dispose, Resume or RestoreVariables.</summary>
    IDisposable BeginFit()
    {
        int me = Environment.CurrentManagedThreadId;
        int running = 0;
        Writing(() => running = Interlocked.CompareExchange(ref fitThread, me, 0));
        if (running != 0)
            throw new InvalidOperationException(running == me
                ? $"Model '{Network.Name}': Fit was called from inside Fit (a callback); call it after training ends."
                : $"Model '{Network.Name}' is already training on another thread; one Fit at a time per model.");
        return new FitScope(this);
    }

    /// <summary>A write (Fit, Resume, RestoreVariables, Dispose) from inside <see cref="ReadState"/>
    /// would wait for its own read lock: refuse it with a clear message.</summary>
    void RequireNoReadLock()
    {
        if (stateLock.IsReadLockHeld)
            throw new InvalidOperationException(
                $"Model '{Network.Name}': the state cannot be changed from inside ReadState, Predict or Evaluate on the same thread.");
    }

    /// <summary>Refuses a change of state from outside Fit's thread while Fit runs (call it
    /// under the write lock, so Fit cannot start in between).</summary>
    void RequireNotFittingElsewhere(string operation)
    {
        int running = Volatile.Read(ref fitThread);
        if (running != 0 && running != Environment.CurrentManagedThreadId)
            throw new InvalidOperationException(
                $"Model '{Network.Name}': {operation} while Fit runs on another thread would change the state under it; stop training first (a callback may call it).");
    }

    void ThrowIfDisposed()
    {
        if (disposed) throw new ObjectDisposedException(nameof(Model), $"Model '{Network.Name}' has been disposed; its state is gone.");
    }

    /// <summary>Disposes the state. Waits for running Predict and Evaluate calls; refused while Fit runs on another thread.</summary>
    public void Dispose()
    {
        if (disposed) return;
        RequireNoReadLock();
        stateLock.EnterWriteLock();
        try
        {
            if (disposed) return;
            RequireNotFittingElsewhere("Dispose");
            disposed = true;
            State.DisposeExcept(new TrainState(Trees.TensorTree.Empty, Trees.TensorTree.Empty, Trees.TensorTree.Empty, 0, 0));
        }
        finally
        {
            stateLock.ExitWriteLock();
        }
    }

    sealed class FitScope(Model model) : IDisposable
    {
        public void Dispose() => Volatile.Write(ref model.fitThread, 0);
    }
}
