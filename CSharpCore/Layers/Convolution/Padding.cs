namespace Functional.Layers;

/// <summary>How a convolution or pooling treats the borders.</summary>
public enum Padding
{
    /// <summary>No padding: the output shrinks by kernel - 1 (before striding).</summary>
    Valid,
    /// <summary>Zero padding of kernel / 2 on each side (odd kernels): with stride 1 the output
    /// has the input's spatial size.</summary>
    Same,
}
