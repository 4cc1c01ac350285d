/*
 * list.h: an intrusive circular doubly linked list (the Linux kernel's and
 * libuv's queue idea): embed a struct nb_list in the element and get back to
 * the element with nb_list_entry().
 */
#ifndef NB_BASE_LIST_H
#define NB_BASE_LIST_H

#include <stddef.h>

struct nb_list {
    struct nb_list *prev, *next;
};

static inline void nb_list_init(struct nb_list *l)
{
    l->prev = l->next = l;
}

static inline int nb_list_empty(const struct nb_list *l)
{
    return l->next == l;
}

/* Inserts n before head (at the tail of the list). */
static inline void nb_list_push(struct nb_list *head, struct nb_list *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void nb_list_del(struct nb_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#define nb_list_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Safe against deleting the current element. */
#define nb_list_foreach(it, tmp, head)                                                             \
    for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head); (it) = (tmp), (tmp) = (it)->next)

#endif
