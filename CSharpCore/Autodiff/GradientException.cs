namespace Functional.Autodiff;

/// <summary>
/// A gradient could not be computed: the function does not depend on its inputs, a shape does
/// not match, the autograd graph was already freed, a custom gradient failed, ... The message
/// says which transform, what went wrong and where; libtorch's own message, if any, is the
/// inner exception.
/// </summary>
public sealed class GradientException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public GradientException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the underlying cause.</summary>
    public GradientException(string message, Exception inner) : base(message, inner) { }
}
