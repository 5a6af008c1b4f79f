"""Jobs over image datasets: listing, streaming, sharded results that resume."""
