"""INN Lab dashboard: a Streamlit multipage app over the inn_core engine."""
