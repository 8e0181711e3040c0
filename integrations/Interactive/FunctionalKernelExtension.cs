using Microsoft.DotNet.Interactive;

namespace Functional.Interactive;

/// <summary>Loaded by .NET Interactive when the package is referenced (<c>#r "nuget: Functional.Interactive"</c>):
/// registers <see cref="NotebookFormatters"/>.</summary>
public sealed class FunctionalKernelExtension : IKernelExtension
{
    /// <inheritdoc/>
    public Task OnLoadAsync(Kernel kernel)
    {
        NotebookFormatters.Register();
        return Task.CompletedTask;
    }
}
