namespace Engine.Backends;

/// <summary>
/// An <see cref="IBackend"/> that forwards every call to another, for decorators (profiling, fault injection, call counting): a
/// subclass overrides only the calls it changes, or <see cref="Call"/> to wrap all of them. The forwarding members are generated
/// from IBackend at build time (generators/ForwardingGenerator.cs), so a new op needs no edit here. Disposing it disposes the inner backend.
/// </summary>
[Forwarding]
public abstract partial class DelegatingBackend(IBackend inner) : IBackend
{
    /// <summary>The backend every call goes to.</summary>
    protected IBackend Inner => inner;

    /// <summary>Every forwarded call passes through here with its <see cref="IBackend"/> method name, but Upload and Download
    /// (span arguments cannot be captured in a delegate).</summary>
    protected virtual void Call(string op, Action call) => call();

    /// <inheritdoc cref="Call(string, Action)"/>
    protected virtual T Call<T>(string op, Func<T> call) => call();

    public virtual void Dispose() => inner.Dispose();
}
